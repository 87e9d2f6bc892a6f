// The syntax layer of plans: YAML documents that remember where every node came from, and positioned errors. The
// small languages a plan embeds in strings (label selectors, name globs, kind patterns, JSON pointers) live in their
// own modules and are re-exported here. Pure: text in, data or a positioned error out.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, visit } from 'yaml';
import type { Document, Node } from 'yaml';

export * from './glob.ts';
export * from './json-pointer.ts';
export * from './label-selector.ts';
export * from './names.ts';
export * from './syntax-problem.ts';

// ---------------------------------------------------------------------------------------------------------------
// Errors and positions

export const Severity = { error: 'error', warning: 'warning' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

/** One problem in a plan file; `line` and `column` are 1-based, `path` is the YAML path (`spec.transforms[2].images`). */
export interface PlanError {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
  severity: Severity;
}

/** A file as read from disk or from git; `path` is how errors name it. */
export interface PlanFile {
  path: string;
  text: string;
  /** Size in bytes when `text` was not read because the file is too large. */
  size?: number;
}

export type PathSegment = string | number;

/** Files larger than this are refused before parsing: a plan is a page of YAML, not a data set. */
export const maxFileBytes = 1024 * 1024;
/** Alias expansions allowed per document; a handful is plenty for a plan, thousands is an alias bomb. */
export const maxAliasCount = 100;

/** `spec.transforms[2].images[0].from`; keys that are not plain words are quoted: `labels.set["app.kubernetes.io/name"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** `file:line:col: path: message`, with `warning: ` before the path for warnings. */
export function formatPlanError(error: PlanError): string {
  const where = `${error.file}:${error.line}:${error.column}: `;
  const severity = error.severity === Severity.warning ? 'warning: ' : '';
  return `${where}${severity}${error.path ? `${error.path}: ` : ''}${error.message}`;
}

/** Orders errors by file, line, column, then message, the order a person reads them in. */
export function compareErrors(a: PlanError, b: PlanError): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.column - b.column || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------------------
// YAML documents with positions

/** One YAML document of a file, its plain value, and the AST to find positions in. */
export interface SourceDocument {
  file: string;
  /** 0-based index of the document in its file. */
  index: number;
  value: unknown;
  document: Document.Parsed;
  lineCounter: LineCounter;
  text: string;
}

export interface ParsedFile {
  documents: SourceDocument[];
  errors: PlanError[];
}

function yamlMessage(code: string, message: string, key: string | undefined): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return key === undefined ? 'duplicate key: each key may appear once in a mapping' : `duplicate key ${JSON.stringify(key)}: each key may appear once in a mapping`;
    case 'TAB_AS_INDENT':
      return 'tab used for indentation: YAML indents with spaces';
    case 'MULTIPLE_DOCS':
      return message;
    default:
      return `invalid YAML: ${message.replace(/ at line \d+, column \d+.*$/s, '')}`;
  }
}

function scalarKeyAt(document: Document.Parsed, offset: number): string | undefined {
  let found: string | undefined;
  visit(document, {
    Pair(_, pair) {
      const key = pair.key;
      if (isScalar(key) && key.range?.[0] === offset) {
        found = String(key.value);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function firstAliasOffset(document: Document.Parsed): number {
  let offset = 0;
  visit(document, {
    Alias(_, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

/**
 * Parses every document of a file. Refuses files over 1 MiB, syntax errors, duplicate keys and alias bombs, each as
 * a positioned error; a document with errors is reported and left out, the others are still returned.
 */
export function parseYamlFile(file: PlanFile): ParsedFile {
  const errors: PlanError[] = [];
  const documents: SourceDocument[] = [];
  const bytes = file.size ?? Buffer.byteLength(file.text, 'utf8');
  if (bytes > maxFileBytes) {
    errors.push({
      file: file.path, line: 1, column: 1, path: '', severity: Severity.error,
      message: `file is ${bytes} bytes, over the 1 MiB limit for plan files; split it into several files`,
    });
    return { documents, errors };
  }
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(file.text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, version: '1.2' });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if ('empty' in parsed) {
    // Only comments or whitespace; errors here are stream-level (e.g. a directive without a document).
    for (const error of parsed.errors) {
      errors.push({ file: file.path, ...position(error.pos[0]), path: '', severity: Severity.error, message: yamlMessage(error.code, error.message, undefined) });
    }
    return { documents, errors };
  }
  parsed.forEach((document, index) => {
    for (const warning of document.warnings) {
      errors.push({ file: file.path, ...position(warning.pos[0]), path: '', severity: Severity.warning, message: `YAML: ${warning.message}` });
    }
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const key = error.code === 'DUPLICATE_KEY' ? scalarKeyAt(document, error.pos[0]) : undefined;
        errors.push({ file: file.path, ...position(error.pos[0]), path: '', severity: Severity.error, message: yamlMessage(error.code, error.message, key) });
      }
      return;
    }
    // An empty document (only comments, or `---` with nothing after it) is skipped, not an error.
    if (document.contents === null || (isScalar(document.contents) && document.contents.value === null)) return;
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount });
    } catch (error) {
      const message = error instanceof ReferenceError && /alias/i.test(error.message)
        ? `too many YAML alias expansions (limit ${maxAliasCount}): aliases that expand into huge documents (an "alias bomb") are refused`
        : `invalid YAML: ${error instanceof Error ? error.message : String(error)}`;
      errors.push({ file: file.path, ...position(firstAliasOffset(document)), path: '', severity: Severity.error, message });
      return;
    }
    documents.push({ file: file.path, index, value, document, lineCounter, text: file.text });
  });
  return { documents, errors };
}

function nodeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

function isImplicitNull(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null && (node.source === '' || node.source === undefined || node.range?.[0] === node.range?.[1]));
}

/** Where a YAML path points: the value's node (or the key's, when `at` is 'key'); for a missing entry, its parent. */
export function locateOffset(source: SourceDocument, path: readonly PathSegment[], at: 'value' | 'key' = 'value'): number {
  let node: unknown = source.document.contents;
  let fallback = nodeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    if (isAlias(node)) node = node.resolve(source.document);
    if (isMap(node)) {
      const pair = node.items.find((item) => (isScalar(item.key) ? String(item.key.value) : String(item.key)) === String(segment));
      if (!pair) return nodeStart(node) ?? fallback;
      const keyStart = nodeStart(pair.key) ?? fallback;
      if (i === path.length - 1 && at === 'key') return keyStart;
      if (isImplicitNull(pair.value)) return keyStart;
      node = pair.value;
      fallback = keyStart;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) return nodeStart(node) ?? fallback;
      node = item;
    } else {
      return nodeStart(node) ?? fallback;
    }
  }
  return nodeStart(node) ?? fallback;
}

/**
 * The 1-based position of a path; `offset`, an index into a scalar string, moves the column into the string when
 * the scalar sits on one line as written (plain or quoted without escapes).
 */
export function locate(source: SourceDocument, path: readonly PathSegment[], options: { at?: 'value' | 'key'; offset?: number } = {}): { line: number; column: number } {
  let offset = locateOffset(source, path, options.at);
  if (options.offset !== undefined && options.offset > 0) {
    const node = nodeAt(source, path);
    if (isScalar(node) && typeof node.value === 'string' && node.range) {
      const start = node.range[0];
      const quoted = node.type === Scalar.QUOTE_SINGLE || node.type === Scalar.QUOTE_DOUBLE ? 1 : node.type === Scalar.PLAIN ? 0 : -1;
      if (quoted >= 0 && source.text.slice(start + quoted, start + quoted + node.value.length) === node.value) offset = start + quoted + options.offset;
    }
  }
  const { line, col } = source.lineCounter.linePos(offset);
  return { line, column: col };
}

function nodeAt(source: SourceDocument, path: readonly PathSegment[]): unknown {
  let node: unknown = source.document.contents;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(source.document);
    if (isMap(node)) node = node.items.find((item) => (isScalar(item.key) ? String(item.key.value) : String(item.key)) === String(segment))?.value;
    else if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
    else return undefined;
  }
  return node;
}

/** Builds a positioned error for a path of a document. */
export function errorAt(source: SourceDocument, path: readonly PathSegment[], message: string, options: { severity?: Severity; at?: 'value' | 'key'; offset?: number } = {}): PlanError {
  return { file: source.file, ...locate(source, path, options), path: formatPath(path), message, severity: options.severity ?? Severity.error };
}
