// Globs for namespace and object names: the parser, the compiled matcher the pipeline uses, and whether two
// globs can match a common name (for plans that would write the same objects).
import { SyntaxProblem } from './syntax-problem.ts';

// ---------------------------------------------------------------------------------------------------------------
// Globs for namespace and object names: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[!a-z]`.

export type GlobToken =
  | { type: 'literal'; char: string }
  | { type: 'any' }
  | { type: 'star' }
  | { type: 'class'; negated: boolean; ranges: Array<[string, string]> };

/** Which characters a glob may contain, and how to say so. */
export interface GlobAlphabet {
  test(char: string): boolean;
  description: string;
}

export const namespaceAlphabet: GlobAlphabet = {
  test: (char) => /^[a-z0-9-]$/.test(char),
  description: 'namespace names have lowercase letters, digits and "-"',
};

/** Object names: DNS subdomains for most kinds, but RBAC names may hold ":" and upper case (`system:auth-delegator`). */
export const objectNameAlphabet: GlobAlphabet = {
  test: (char) => /^[A-Za-z0-9._:@+-]$/.test(char),
  description: 'object names have letters, digits, "-", ".", ":", "_", "@" and "+"',
};

/** Parses a glob; throws a SyntaxProblem at the faulty character. */
export function parseGlob(pattern: string, alphabet: GlobAlphabet = objectNameAlphabet): GlobToken[] {
  if (pattern === '') throw new SyntaxProblem('empty pattern: use "*" to match every name', 0);
  const tokens: GlobToken[] = [];
  const checkChar = (char: string, offset: number) => {
    if (!alphabet.test(char)) throw new SyntaxProblem(`invalid character ${JSON.stringify(char)} in pattern ${JSON.stringify(pattern)}: ${alphabet.description}, plus the wildcards *, ? and [...]`, offset);
  };
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*') {
      if (tokens.at(-1)?.type !== 'star') tokens.push({ type: 'star' });
    } else if (char === '?') {
      tokens.push({ type: 'any' });
    } else if (char === '[') {
      const start = i;
      let j = i + 1;
      const negated = pattern[j] === '!' || pattern[j] === '^';
      if (negated) j++;
      const ranges: Array<[string, string]> = [];
      while (j < pattern.length && pattern[j] !== ']') {
        const from = pattern[j]!;
        checkChar(from, j);
        if (pattern[j + 1] === '-' && j + 2 < pattern.length && pattern[j + 2] !== ']') {
          const to = pattern[j + 2]!;
          checkChar(to, j + 2);
          if (to < from) throw new SyntaxProblem(`reversed range "${from}-${to}" in pattern ${JSON.stringify(pattern)}: write "${to}-${from}"`, j);
          ranges.push([from, to]);
          j += 3;
        } else {
          ranges.push([from, from]);
          j++;
        }
      }
      if (j >= pattern.length) throw new SyntaxProblem(`unclosed "[" in pattern ${JSON.stringify(pattern)}: add "]"`, start);
      if (ranges.length === 0) throw new SyntaxProblem(`empty character class "${pattern.slice(start, j + 1)}" in pattern ${JSON.stringify(pattern)}`, start);
      tokens.push({ type: 'class', negated, ranges });
      i = j;
    } else {
      checkChar(char, i);
      tokens.push({ type: 'literal', char });
    }
  }
  return tokens;
}

function classMatches(token: Extract<GlobToken, { type: 'class' }>, char: string): boolean {
  return token.ranges.some(([from, to]) => char >= from && char <= to) !== token.negated;
}

/** A matcher for a glob (anchored: the whole name must match). */
export function compileGlob(pattern: string, alphabet: GlobAlphabet = objectNameAlphabet): (name: string) => boolean {
  const tokens = parseGlob(pattern, alphabet);
  if (tokens.every((token) => token.type === 'literal')) return (name) => name === pattern;
  // Iterative matcher with backtracking to the last star: linear in practice, no regular expression to escape.
  return (name) => {
    let t = 0;
    let n = 0;
    let starToken = -1;
    let starName = 0;
    while (n < name.length) {
      const token = tokens[t];
      if (token && token.type !== 'star' && (token.type === 'any' || (token.type === 'literal' ? token.char === name[n] : classMatches(token, name[n]!)))) {
        t++;
        n++;
      } else if (token?.type === 'star') {
        starToken = t++;
        starName = n;
      } else if (starToken >= 0) {
        t = starToken + 1;
        n = ++starName;
      } else {
        return false;
      }
    }
    while (tokens[t]?.type === 'star') t++;
    return t === tokens.length;
  };
}

/** True when the pattern has no wildcard, i.e. names exactly one name. */
export function isLiteralGlob(pattern: string): boolean {
  return !/[*?[]/.test(pattern);
}

/** Some character both single-character tokens accept, or undefined when none exists. */
function commonChar(a: GlobToken, b: GlobToken, alphabet: string): string | undefined {
  for (const char of a.type === 'literal' ? a.char : b.type === 'literal' ? b.char : alphabet) {
    const accepts = (token: GlobToken) => token.type === 'any' || token.type === 'star' || (token.type === 'literal' ? token.char === char : classMatches(token, char));
    if (accepts(a) && accepts(b)) return char;
  }
  return undefined;
}

/**
 * True when some name matches both globs: a search over pairs of positions in the two patterns (the product of
 * their automata), so the answer is exact, not a heuristic.
 */
export function globsIntersect(a: string, b: string): boolean {
  const left = parseGlob(a, { test: () => true, description: '' });
  const right = parseGlob(b, { test: () => true, description: '' });
  const alphabet = [...new Set([...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:@+', ...a, ...b])].join('');
  const seen = new Set<string>();
  const stack: Array<[number, number]> = [[0, 0]];
  while (stack.length > 0) {
    const [i, j] = stack.pop()!;
    const id = `${i},${j}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (i === left.length && j === right.length) return true;
    const l = left[i];
    const r = right[j];
    if (l?.type === 'star') stack.push([i + 1, j]);
    if (r?.type === 'star') stack.push([i, j + 1]);
    if (l && r && commonChar(l, r, alphabet) !== undefined) stack.push([l.type === 'star' ? i : i + 1, r.type === 'star' ? j : j + 1]);
  }
  return false;
}
