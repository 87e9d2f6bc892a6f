// The syntax layer of plans: YAML documents that remember where every node came from, and the small languages a
// plan embeds in strings (label selectors, name globs, kind patterns, JSON pointers). Pure: text in, data or a
// positioned error out. The selector and glob matchers here are the ones the pipeline uses to select objects.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, visit } from 'yaml';
import type { Document, Node } from 'yaml';
import { quoteShort } from '../util/quote.ts';

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

// ---------------------------------------------------------------------------------------------------------------
// A syntax error inside a string; `offset` is where in the string it was found.

export class SyntaxProblem extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'SyntaxProblem';
    this.offset = offset;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes names

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why a string is not a DNS-1123 label (namespace names), or undefined when it is one. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters (it has ${name.length})`;
  if (!dnsLabel.test(name)) return 'must consist of lowercase letters, digits and "-", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a DNS-1123 subdomain (API groups, most object names), or undefined. */
export function dnsSubdomainProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 253) return `must be at most 253 characters (it has ${name.length})`;
  if (!dnsSubdomain.test(name)) return 'must consist of lowercase letters, digits, "-" and ".", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a valid label or annotation key (`[prefix/]name`), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'must be a name with an optional DNS prefix, like "app.kubernetes.io/name": at most one "/"';
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    const problem = dnsSubdomainProblem(prefix);
    if (problem) return `prefix ${JSON.stringify(prefix)} ${problem}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters (it has ${name.length})`;
  if (!qualifiedNamePart.test(name)) return 'name part must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a valid label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `must be at most 63 characters (it has ${value.length})`;
  if (!labelValuePattern.test(value)) return 'must be empty or consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Label selectors: the string syntax of `kubectl get -l` (k8s.io/apimachinery/pkg/labels), e.g.
// `app=web,tier in (a,b),!legacy,env!=dev`.

export const SelectorOperator = {
  exists: 'Exists',
  doesNotExist: 'DoesNotExist',
  equals: 'Equals',
  notEquals: 'NotEquals',
  in: 'In',
  notIn: 'NotIn',
  greaterThan: 'GreaterThan',
  lessThan: 'LessThan',
} as const;
export type SelectorOperator = (typeof SelectorOperator)[keyof typeof SelectorOperator];

export interface LabelRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/** A parsed selector: every requirement must hold. The empty selector selects everything. */
export type LabelSelector = LabelRequirement[];

type SelectorToken =
  | { type: 'identifier'; text: string; offset: number }
  | { type: 'symbol'; text: '!' | '!=' | '=' | '==' | '(' | ')' | ',' | '>' | '<'; offset: number }
  | { type: 'end'; offset: number };

function tokenizeSelector(text: string): SelectorToken[] {
  const tokens: SelectorToken[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '!=' || two === '==') {
      tokens.push({ type: 'symbol', text: two, offset: i });
      i += 2;
      continue;
    }
    if ('!=(),><'.includes(char)) {
      tokens.push({ type: 'symbol', text: char as '!' | '=' | '(' | ')' | ',' | '>' | '<', offset: i });
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i]!) && !'!=(),><'.includes(text[i]!)) i++;
    tokens.push({ type: 'identifier', text: text.slice(start, i), offset: start });
  }
  tokens.push({ type: 'end', offset: text.length });
  return tokens;
}

function describeToken(token: SelectorToken): string {
  return token.type === 'end' ? 'the end' : JSON.stringify(token.text);
}

/**
 * Parses a label selector string. Throws a SyntaxProblem (with the offset of the fault) for anything
 * `kubectl -l` would refuse; also refuses an empty value list `in ()`, which Kubernetes reads as "the empty value".
 */
export function parseLabelSelector(text: string): LabelSelector {
  const tokens = tokenizeSelector(text);
  const requirements: LabelRequirement[] = [];
  let position = 0;
  const peek = () => tokens[position]!;
  const next = () => tokens[position++]!;
  if (peek().type === 'end') return requirements;

  const readKey = (): { key: string; offset: number } => {
    const token = next();
    if (token.type !== 'identifier') throw new SyntaxProblem(`expected a label key, found ${describeToken(token)}`, token.offset);
    if (token.text === 'in' || token.text === 'notin') throw new SyntaxProblem(`expected a label key, found the keyword "${token.text}"`, token.offset);
    const problem = qualifiedNameProblem(token.text);
    if (problem) throw new SyntaxProblem(`invalid label key ${JSON.stringify(token.text)}: ${problem}`, token.offset);
    return { key: token.text, offset: token.offset };
  };
  const checkValue = (value: string, offset: number) => {
    const problem = labelValueProblem(value);
    if (problem) throw new SyntaxProblem(`invalid label value ${JSON.stringify(value)}: ${problem}`, offset);
  };

  for (;;) {
    const first = peek();
    if (first.type === 'symbol' && first.text === '!') {
      next();
      const { key } = readKey();
      const after = peek();
      if (after.type !== 'end' && !(after.type === 'symbol' && after.text === ',')) {
        throw new SyntaxProblem(`unexpected ${describeToken(after)} after "!${key}": "!key" only tests that a label is absent`, after.offset);
      }
      requirements.push({ key, operator: SelectorOperator.doesNotExist, values: [] });
    } else {
      const { key } = readKey();
      const operator = peek();
      if (operator.type === 'end' || (operator.type === 'symbol' && operator.text === ',')) {
        requirements.push({ key, operator: SelectorOperator.exists, values: [] });
      } else if (operator.type === 'symbol' && ['=', '==', '!='].includes(operator.text)) {
        next();
        const value = peek();
        let text = '';
        if (value.type === 'identifier') {
          next();
          checkValue(value.text, value.offset);
          text = value.text;
        } else if (!(value.type === 'end' || (value.type === 'symbol' && value.text === ','))) {
          throw new SyntaxProblem(`expected a label value after ${JSON.stringify(operator.text)}, found ${describeToken(value)}`, value.offset);
        }
        requirements.push({ key, operator: operator.text === '!=' ? SelectorOperator.notEquals : SelectorOperator.equals, values: [text] });
      } else if (operator.type === 'symbol' && (operator.text === '>' || operator.text === '<')) {
        next();
        const value = next();
        if (value.type !== 'identifier' || !/^-?\d+$/.test(value.text)) {
          throw new SyntaxProblem(`${JSON.stringify(operator.text)} needs an integer value, found ${describeToken(value)}`, value.offset);
        }
        requirements.push({ key, operator: operator.text === '>' ? SelectorOperator.greaterThan : SelectorOperator.lessThan, values: [value.text] });
      } else if (operator.type === 'identifier' && (operator.text === 'in' || operator.text === 'notin')) {
        next();
        const open = next();
        if (!(open.type === 'symbol' && open.text === '(')) throw new SyntaxProblem(`expected "(" after "${operator.text}", found ${describeToken(open)}`, open.offset);
        const values: string[] = [];
        for (;;) {
          const value = next();
          if (value.type === 'symbol' && value.text === ')' && values.length === 0) {
            throw new SyntaxProblem(`"${operator.text}" needs at least one value`, value.offset);
          }
          if (value.type !== 'identifier') throw new SyntaxProblem(`expected a label value in the list, found ${describeToken(value)}`, value.offset);
          checkValue(value.text, value.offset);
          values.push(value.text);
          const separator = next();
          if (separator.type === 'symbol' && separator.text === ')') break;
          if (!(separator.type === 'symbol' && separator.text === ',')) {
            throw new SyntaxProblem(separator.type === 'end' ? 'missing ")" at the end of the value list' : `expected "," or ")" in the value list, found ${describeToken(separator)}`, separator.offset);
          }
        }
        requirements.push({ key, operator: operator.text === 'in' ? SelectorOperator.in : SelectorOperator.notIn, values: [...new Set(values)].sort() });
      } else {
        throw new SyntaxProblem(`unexpected ${describeToken(operator)} after label key "${key}": expected =, ==, !=, in, notin, >, < or ","`, operator.offset);
      }
    }
    const separator = next();
    if (separator.type === 'end') break;
    if (!(separator.type === 'symbol' && separator.text === ',')) {
      throw new SyntaxProblem(`unexpected ${describeToken(separator)}: separate requirements with ","`, separator.offset);
    }
    const following = peek();
    if (following.type === 'end' || (following.type === 'symbol' && following.text === ',')) {
      throw new SyntaxProblem('empty requirement after ","', following.offset);
    }
  }
  return requirements;
}

/** True when the labels satisfy every requirement (Kubernetes semantics: `notin` and `!=` match an absent label). */
export function matchesLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const has = (key: string) => labels !== undefined && Object.hasOwn(labels, key);
  return selector.every((requirement) => {
    const value = labels?.[requirement.key];
    switch (requirement.operator) {
      case SelectorOperator.exists:
        return has(requirement.key);
      case SelectorOperator.doesNotExist:
        return !has(requirement.key);
      case SelectorOperator.equals:
      case SelectorOperator.in:
        return has(requirement.key) && requirement.values.includes(value!);
      case SelectorOperator.notEquals:
      case SelectorOperator.notIn:
        return !has(requirement.key) || !requirement.values.includes(value!);
      case SelectorOperator.greaterThan:
      case SelectorOperator.lessThan: {
        if (!has(requirement.key) || !/^-?\d+$/.test(value!)) return false;
        const actual = Number(value);
        const bound = Number(requirement.values[0]);
        return requirement.operator === SelectorOperator.greaterThan ? actual > bound : actual < bound;
      }
      default: {
        const unreachable: never = requirement.operator;
        throw new Error(`unknown selector operator ${String(unreachable)}`);
      }
    }
  });
}

/** The canonical string of a parsed selector (`app=web,!legacy,tier in (a,b)`). */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector.map(({ key, operator, values }) => {
    switch (operator) {
      case SelectorOperator.exists: return key;
      case SelectorOperator.doesNotExist: return `!${key}`;
      case SelectorOperator.equals: return `${key}=${values[0] ?? ''}`;
      case SelectorOperator.notEquals: return `${key}!=${values[0] ?? ''}`;
      case SelectorOperator.in: return `${key} in (${values.join(',')})`;
      case SelectorOperator.notIn: return `${key} notin (${values.join(',')})`;
      case SelectorOperator.greaterThan: return `${key}>${values[0] ?? ''}`;
      case SelectorOperator.lessThan: return `${key}<${values[0] ?? ''}`;
      default: {
        const unreachable: never = operator;
        throw new Error(`unknown selector operator ${String(unreachable)}`);
      }
    }
  }).join(',');
}

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

// ---------------------------------------------------------------------------------------------------------------
// Kind patterns: `ConfigMap` (core group), `apps/Deployment`, `apps/*`, `*`.

export interface KindPattern {
  /** '' for the core group, '*' for every group. */
  group: string;
  /** '*' for every kind of the group. */
  kind: string;
}

/** Parses a kind pattern; throws a SyntaxProblem explaining the accepted forms. */
export function parseKindPattern(text: string): KindPattern {
  const forms = 'write Kind for the core group (ConfigMap), group/Kind for the others (apps/Deployment), group/* or *';
  if (text === '*') return { group: '*', kind: '*' };
  const slash = text.indexOf('/');
  const group = slash < 0 ? '' : text.slice(0, slash);
  const kind = slash < 0 ? text : text.slice(slash + 1);
  if (slash >= 0) {
    const problem = dnsSubdomainProblem(group);
    if (problem) throw new SyntaxProblem(`invalid API group ${JSON.stringify(group)} in kind ${JSON.stringify(text)}: ${problem}`, 0);
    if (kind === '*') return { group, kind };
  }
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) throw new SyntaxProblem(`invalid kind ${JSON.stringify(text)}: ${forms}`, slash + 1);
  return { group, kind };
}

/** `apps/Deployment`, `ConfigMap` for the core group. */
export function formatKind(pattern: KindPattern): string {
  if (pattern.group === '*' && pattern.kind === '*') return '*';
  return pattern.group === '' ? pattern.kind : `${pattern.group}/${pattern.kind}`;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON pointers (RFC 6901)

/** Parses a JSON pointer into its unescaped segments; '' is the whole document. */
export function parseJsonPointer(text: string): string[] {
  if (text === '') return [];
  if (!text.startsWith('/')) throw new SyntaxProblem(`invalid JSON pointer ${quoteShort(text)}: must start with "/" (e.g. /spec/replicas)`, 0);
  const tilde = /~(?![01])/.exec(text);
  if (tilde) throw new SyntaxProblem(`invalid JSON pointer ${quoteShort(text)}: "~" must be followed by 0 (for "~") or 1 (for "/")`, tilde.index);
  return text.slice(1).split('/').map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The pointer for a list of segments. */
export function formatJsonPointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${segment.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}
