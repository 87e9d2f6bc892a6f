// Unified diffs of mirror files, for `lifeboat diff`. Manifests are small, so a plain LCS table is fast enough and
// simple to trust. Pure.

export interface FileDiff {
  path: string;
  before: string | undefined;
  after: string | undefined;
}

/** Lines of `a` and `b` as a list of ' ', '-', '+' operations (longest common subsequence). */
function lineOps(a: string[], b: string[]): { op: ' ' | '-' | '+'; line: string }[] {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * cols + j] = a[i] === b[j] ? table[(i + 1) * cols + j + 1]! + 1 : Math.max(table[(i + 1) * cols + j]!, table[i * cols + j + 1]!);
    }
  }
  const ops: { op: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      ops.push({ op: ' ', line: a[i]! });
      i++;
      j++;
    } else if (table[(i + 1) * cols + j]! >= table[i * cols + j + 1]!) ops.push({ op: '-', line: a[i++]! });
    else ops.push({ op: '+', line: b[j++]! });
  }
  while (i < a.length) ops.push({ op: '-', line: a[i++]! });
  while (j < b.length) ops.push({ op: '+', line: b[j++]! });
  return ops;
}

const splitLines = (text: string | undefined) => (text === undefined || text === '' ? [] : text.replace(/\n$/, '').split('\n'));

/** A unified diff (`--- a/path`, `+++ b/path`, `@@` hunks with `context` lines around each change). */
export function unifiedDiff(file: FileDiff, context = 3): string {
  const a = splitLines(file.before);
  const b = splitLines(file.after);
  const ops = lineOps(a, b);
  const changed = ops.map((entry, index) => (entry.op === ' ' ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return '';
  const out = [`--- ${file.before === undefined ? '/dev/null' : `a/${file.path}`}`, `+++ ${file.after === undefined ? '/dev/null' : `b/${file.path}`}`];
  // Group changes whose context windows touch into hunks.
  const hunks: [number, number][] = [];
  for (const index of changed) {
    const start = Math.max(0, index - context);
    const end = Math.min(ops.length, index + context + 1);
    const last = hunks.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else hunks.push([start, end]);
  }
  for (const [start, end] of hunks) {
    let oldLine = 1;
    let newLine = 1;
    for (const entry of ops.slice(0, start)) {
      if (entry.op !== '+') oldLine++;
      if (entry.op !== '-') newLine++;
    }
    const slice = ops.slice(start, end);
    const oldCount = slice.filter((entry) => entry.op !== '+').length;
    const newCount = slice.filter((entry) => entry.op !== '-').length;
    out.push(`@@ -${oldCount ? oldLine : oldLine - 1},${oldCount} +${newCount ? newLine : newLine - 1},${newCount} @@`);
    for (const entry of slice) out.push(`${entry.op}${entry.line}`);
  }
  return `${out.join('\n')}\n`;
}

/** Replaces Secret ciphertext (and any plaintext value a Secret might carry) with a placeholder. */
export function maskSecretValues(text: string | undefined): string | undefined {
  if (text === undefined || !/^kind: Secret$/m.test(text)) return text;
  const lines = text.split('\n');
  const masked: string[] = [];
  let skipIndent: number | undefined;
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    if (skipIndent !== undefined && (indent > skipIndent || line.trim() === '')) continue;
    skipIndent = undefined;
    const encrypted = /^(\s*lifeboat\.dev\/encrypted-data:)/.exec(line);
    const values = /^(data|stringData):\s*$/.exec(line);
    if (encrypted) {
      masked.push(`${encrypted[1]} <encrypted>`);
      skipIndent = indent;
    } else if (values) {
      masked.push(`${values[1]}: <masked>`);
      skipIndent = indent;
    } else masked.push(line);
  }
  return masked.join('\n');
}
