// Fast paths for the YAML of the mirror. Every object crosses YAML twice per change (the processor writes it, the
// synchronizer reads it), and the `yaml` library costs about a millisecond per object each way: the largest CPU
// cost of the pipeline. The mirror's files are a small, regular subset of YAML (block maps and lists, one scalar
// per line), so this module emits and reads that subset directly, byte for byte and value for value what the
// library gives, and hands anything outside the subset (a scalar it is not sure about, a multi-line string, a
// comment, an anchor, a file someone edited by hand) to the library. test/unit/yaml.test.ts holds it to that.
import { Document, parse as parseWithLibrary, type CreateNodeOptions, type DocumentOptions, type ScalarTag, type SchemaOptions, type Tags, type ToStringOptions } from 'yaml';
import { escapeForYamlReaders, integerOf, yamlUnsafeCharacters } from './json.ts';

/** Thrown inside the fast paths when the input is outside their subset; the caller uses the library instead. */
class Unsupported extends Error {}
/** One instance, thrown again and again: no stack is captured per fallback. */
const unsupported = new Unsupported('outside the fast subset');

export interface EmitOptions {
  /** Document options for the library, used for scalars the emitter leaves to it and for whole fallbacks. */
  documentOptions: DocumentOptions & SchemaOptions & CreateNodeOptions;
  toStringOptions: ToStringOptions;
  /** Order of the top-level keys (nested maps are sorted by key, as `sortMapEntries: true` does). */
  compareTopKeys: (a: string, b: string) => number;
}

/** Words the YAML 1.1 schema reads as booleans or null: never written plain. */
const reservedWords = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE',
  'on', 'On', 'ON', 'off', 'Off', 'OFF', 'null', 'Null', 'NULL']);

/**
 * A string every YAML reader takes as that string when written plain, as a key or a value. Not `E0` or `e+5`: the
 * library's YAML 1.1 schema reads an exponent without digits as a float (NaN), so the library quotes them.
 */
const safePlain = /^(?![eE][-+]?[0-9]+$)[A-Za-z](?:[A-Za-z0-9_./=+,@-]|:(?=[^ ])| (?=[^ #]))*$/;

const sortKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Numbers to Go's YAML reader (kubectl, Flux, the API server), which drops `_` and takes any base prefix in either case. */
const goNumber = /^[-+]?(?:0[bB][01]+|0[oO]?[0-7]+|0[xX][0-9a-fA-F]+|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/;

/**
 * Whether some YAML reader takes this string, written plain, for something else, beyond the YAML 1.1 schema the
 * library quotes by (`0755`, `1_000`, `.inf`, `yes`, `~`, `2026-12-01`): YAML 1.2's `0o17`, Go's `0O17` or `0X1F`,
 * PyYAML's value key `=` and the merge key `<<`.
 */
export function readAsOtherThanString(text: string): boolean {
  if (text === '=' || text === '<<') return true;
  return /^[-+.0-9]/.test(text) && goNumber.test(text.replaceAll('_', ''));
}

/**
 * The library's tags with strings written so that every reader reads them back as the same string: double-quoted
 * where a reader would take them for a number (or a merge), with \u escapes where a reader would change a character
 * (NEL folded into a space, DEL and U+FFFE refused). Everything else as the library writes it.
 */
export function exactStrings(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:str' || !('resolve' in tag)) return tag;
    const string = tag as ScalarTag;
    return {
      ...string,
      stringify(item, context, onComment, onChompKeep) {
        const { value } = item;
        if (typeof value === 'string' && (yamlUnsafeCharacters.test(value) || readAsOtherThanString(value))) return escapeForYamlReaders(JSON.stringify(value)); // JSON's escapes are YAML's too
        return string.stringify!(item, context, onComment, onChompKeep);
      },
    } satisfies ScalarTag;
  });
}

/** The library's tags with integers beyond 2^53 read as bigints (as parseJson reads them), all others as numbers. */
function exactIntegers(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:int' || !('resolve' in tag)) return tag;
    const integer = tag as ScalarTag;
    return {
      ...integer,
      resolve(source, onError, options) {
        const value = integer.resolve(source, onError, options);
        return typeof value === 'number' && !Number.isSafeInteger(value) ? integer.resolve(source, onError, { ...options, intAsBigInt: true }) : value;
      },
    } satisfies ScalarTag;
  });
}

/** How the library reads the mirror: YAML 1.2, integers exact. */
const readOptions = { customTags: exactIntegers };

/** The library's spelling of one scalar, as a key or as a value (memoized: label values and the like repeat). */
class ScalarSpellings {
  private readonly cache = new Map<string, string>();
  private readonly options: EmitOptions;

  constructor(options: EmitOptions) {
    this.options = options;
  }

  of(value: string | number, asKey: boolean): string {
    const cacheKey = `${asKey ? 'k' : 'v'}${typeof value === 'number' ? 'n' : 's'}${value}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return cached;
    // A key may start a line or follow `- `; the library spells document markers differently in the two places.
    if (asKey && typeof value === 'string' && (value.startsWith('---') || value.startsWith('...'))) throw unsupported;
    const text = new Document(asKey ? { [value]: 0 } : { k: value }, this.options.documentOptions).toString(this.options.toStringOptions);
    const spelled = asKey ? text.slice(0, -': 0\n'.length) : text.slice('k: '.length, -1);
    // Multi-line: a block scalar (`|`, `|-`, `|+` and lines indented by 2, re-indented where it stands), or out.
    if (spelled.includes('\n') && (asKey || !/^\|[-+]?\n/.test(spelled))) throw unsupported;
    if (asKey && (spelled.startsWith('? ') || !text.endsWith(': 0\n'))) throw unsupported;
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(cacheKey, spelled);
    return spelled;
  }
}

const spellings = new WeakMap<EmitOptions, ScalarSpellings>();

/** A block scalar spelled at the top level, its content lines moved to sit under a key indented by `indent`. */
function reindented(spelled: string, indent: string): string {
  return indent ? spelled.split('\n').map((line, index) => (index === 0 || line === '' ? line : indent + line)).join('\n') : spelled;
}

function scalar(value: unknown, asKey: boolean, spell: ScalarSpellings): string {
  if (typeof value === 'string') return safePlain.test(value) && !reservedWords.has(value) ? value : spell.of(value, asKey);
  if (asKey) throw unsupported;
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : spell.of(value, false);
  if (typeof value === 'bigint') return String(value); // an integer beyond 2^53, digit for digit
  throw unsupported;
}

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
  && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

function entriesOf(map: Record<string, unknown>, compare: (a: string, b: string) => number): [string, unknown][] {
  return Object.keys(map).filter((key) => map[key] !== undefined).sort(compare).map((key) => [key, map[key]]);
}

function emitMap(entries: [string, unknown][], indent: string, out: string[], spell: ScalarSpellings, first: string | undefined): void {
  for (const [index, [key, value]] of entries.entries()) {
    const prefix = index === 0 && first !== undefined ? first : indent;
    out.push(prefix, key === '<<' ? '"<<"' : scalar(key, true, spell), ':');
    emitValue(value, indent, out, spell);
  }
}

/** Writes ` value\n` for a scalar or empty collection, else `\n` and the nested block. */
function emitValue(value: unknown, indent: string, out: string[], spell: ScalarSpellings): void {
  if (Array.isArray(value)) {
    if (value.length === 0) out.push(' []\n');
    else {
      out.push('\n');
      emitList(value, `${indent}  `, out, spell, undefined);
    }
  } else if (isMap(value)) {
    const entries = entriesOf(value, sortKeys);
    if (entries.length === 0) out.push(' {}\n');
    else {
      out.push('\n');
      emitMap(entries, `${indent}  `, out, spell, undefined);
    }
  } else if (typeof value === 'object' && value !== null) throw unsupported; // Dates, Buffers…
  else {
    const spelled = scalar(value, false, spell);
    out.push(' ', spelled.includes('\n') ? reindented(spelled, indent) : spelled, '\n');
  }
}

function emitList(items: unknown[], indent: string, out: string[], spell: ScalarSpellings, first: string | undefined): void {
  for (const [index, item] of items.entries()) {
    const prefix = `${index === 0 && first !== undefined ? first : indent}- `;
    if (Array.isArray(item) && item.length > 0) emitList(item, `${indent}  `, out, spell, prefix);
    else if (isMap(item) && entriesOf(item, sortKeys).length > 0) emitMap(entriesOf(item, sortKeys), `${indent}  `, out, spell, prefix);
    else if (item === undefined || (typeof item === 'string' && item.includes('\n'))) throw unsupported;
    else {
      out.push(prefix.slice(0, -1));
      emitValue(item, indent, out, spell);
    }
  }
}

/**
 * A map as YAML, the same text as the library's `new Document(value, documentOptions).toString(toStringOptions)`
 * with the top-level keys in `compareTopKeys` order and nested keys sorted. Answers undefined for anything outside
 * the subset (the caller then uses the library).
 */
export function emitYaml(value: Record<string, unknown>, options: EmitOptions): string | undefined {
  let spell = spellings.get(options);
  if (!spell) spellings.set(options, (spell = new ScalarSpellings(options)));
  try {
    if (!isMap(value)) return undefined;
    const entries = entriesOf(value, options.compareTopKeys);
    if (entries.length === 0) return undefined;
    const out: string[] = [];
    emitMap(entries, '', out, spell, undefined);
    return out.join('');
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

// ----- reading -----

/** Plain scalars the YAML 1.2 core schema reads as something other than a string, or that need a closer look. */
const plainString = /^[A-Za-z_/](?:[A-Za-z0-9_./=+,@-]|:(?=[^ ])| (?=[^ #]))*$/;
const plainNotString = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE']);
const decimal = /^(?:0|-?[1-9][0-9]{0,14})$/;
/** 16 digits or more: maybe beyond 2^53, a bigint then. */
const largeDecimal = /^-?[1-9][0-9]{15,}$/;

const scalarCache = new Map<string, unknown>();

function plainValue(text: string): unknown {
  if (plainString.test(text) && !plainNotString.has(text)) return text;
  if (decimal.test(text)) return Number(text);
  if (largeDecimal.test(text)) return integerOf(text);
  if (text === 'null') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  const cached = scalarCache.get(text);
  if (cached !== undefined || scalarCache.has(text)) return cached;
  if (/^[#&*!|>%@`'"[\]{}]|^[-?:](?: |$)|: | #|\t/.test(text)) throw unsupported;
  const value = (parseWithLibrary(`k: ${text}`, readOptions) as { k: unknown }).k; // read in the place it stands: a value
  if (typeof value === 'object' && value !== null) throw unsupported;
  if (scalarCache.size >= 10_000) scalarCache.clear();
  scalarCache.set(text, value);
  return value;
}

/** Reads a scalar at `start` of `line` to the end of the line (or to `: ` for a key). */
function readScalar(line: string, start: number, asKey: boolean): { value: unknown; end: number } {
  const quote = line[start];
  if (quote === '"' || quote === "'") {
    let end = start + 1;
    for (;;) {
      const next = line.indexOf(quote, end);
      if (next < 0) throw unsupported; // continues on the next line
      if (quote === "'" && line[next + 1] === "'") end = next + 2;
      else if (quote === '"' && isEscaped(line, next)) end = next + 1;
      else {
        end = next + 1;
        break;
      }
    }
    const body = line.slice(start + 1, end - 1);
    let value: string;
    if (quote === "'") value = body.replaceAll("''", "'");
    else if (!body.includes('\\')) value = body;
    else if (/\\[^"\\/bfnrtu]/.test(body)) throw unsupported; // YAML-only escapes
    else value = JSON.parse(`"${body}"`) as string;
    return { value, end };
  }
  if (asKey) {
    let colon = line.indexOf(': ', start);
    if (colon < 0 && line.endsWith(':')) colon = line.length - 1;
    if (colon < 0) throw unsupported;
    const text = line.slice(start, colon);
    return { value: plainValue(text), end: colon };
  }
  const text = line.slice(start);
  if (text === '{}') return { value: {}, end: line.length };
  if (text === '[]') return { value: [], end: line.length };
  return { value: plainValue(text), end: line.length };
}

function isEscaped(line: string, index: number): boolean {
  let slashes = 0;
  for (let at = index - 1; line[at] === '\\'; at--) slashes++;
  return slashes % 2 === 1;
}

interface Cursor {
  lines: string[];
  at: number;
}

const indentOf = (line: string) => {
  let spaces = 0;
  while (line.charCodeAt(spaces) === 32) spaces++;
  return spaces;
};

/** A block map whose keys start at column `column`; the first key may start mid-line (after `- `). */
function readMap(cursor: Cursor, column: number, firstStart: number | undefined): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  let start = firstStart;
  for (;;) {
    const line = cursor.lines[cursor.at];
    if (line === undefined) break;
    if (start === undefined) {
      if (line === '') throw unsupported; // blank lines only inside block scalars
      const indent = indentOf(line);
      if (indent < column) break;
      if (indent > column) throw unsupported;
      start = indent;
    }
    if (line[start] === '-' && (line[start + 1] === ' ' || line.length === start + 1)) break; // a list at the same column ends the map
    const { value: key, end } = readScalar(line, start, true);
    if (typeof key !== 'string' || line[end] !== ':' || Object.hasOwn(map, key) || key === '__proto__' || key === '<<') throw unsupported;
    if (end + 1 === line.length) {
      cursor.at++;
      map[key] = readBlock(cursor, column);
    } else if (line[end + 1] === ' ' && line[end + 2] === '|') {
      map[key] = readBlockScalar(cursor, column, line.slice(end + 2));
    } else {
      if (line[end + 1] !== ' ') throw unsupported;
      const { value, end: valueEnd } = readScalar(line, end + 2, false);
      if (valueEnd !== line.length) throw unsupported;
      map[key] = value;
      cursor.at++;
    }
    start = undefined;
  }
  return map;
}

/**
 * A literal block scalar (`|`, `|-` or `|+`, content indented deeper than its key), as YAML reads it: the lines
 * without their common indentation, the final line break clipped, stripped or kept with the empty lines after it.
 */
function readBlockScalar(cursor: Cursor, column: number, header: string): string {
  if (header !== '|' && header !== '|-' && header !== '|+') throw unsupported;
  cursor.at++;
  const content: string[] = [];
  let indent: number | undefined;
  for (;;) {
    const line = cursor.lines[cursor.at];
    if (line === undefined) break;
    if (line !== '') {
      const spaces = indentOf(line);
      if (spaces <= column) break;
      indent ??= spaces;
      if (spaces < indent) throw unsupported;
      content.push(line.slice(indent));
    } else content.push('');
    cursor.at++;
  }
  if (indent === undefined) throw unsupported;
  let trailing = 0;
  while (content.length > 0 && content.at(-1) === '') {
    content.pop();
    trailing++;
  }
  // Trailing empty lines that stood before a line of a lower indentation belong to the block, not to what follows.
  const body = content.join('\n');
  if (header === '|-') return body;
  if (header === '|') return `${body}\n`;
  return `${body}\n${'\n'.repeat(trailing)}`;
}

/** The block after `key:` (a map indented deeper, or a list at the same or a deeper column). */
function readBlock(cursor: Cursor, parentColumn: number): unknown {
  const line = cursor.lines[cursor.at];
  if (line === undefined) throw unsupported; // `key:` with nothing after it is null: the library decides
  const indent = indentOf(line);
  if (line[indent] === '-' && (line[indent + 1] === ' ' || line.length === indent + 1)) {
    if (indent < parentColumn) throw unsupported;
    return readList(cursor, indent, undefined);
  }
  if (indent <= parentColumn) throw unsupported;
  return readMap(cursor, indent, undefined);
}

function readList(cursor: Cursor, column: number, firstStart: number | undefined): unknown[] {
  const list: unknown[] = [];
  let start = firstStart;
  for (;;) {
    const line = cursor.lines[cursor.at];
    if (line === undefined) break;
    if (start === undefined) {
      const indent = indentOf(line);
      if (indent !== column || line[indent] !== '-') {
        if (indent > column) throw unsupported;
        break;
      }
      start = indent;
    }
    if (line[start] !== '-' || line[start + 1] !== ' ') throw unsupported; // `-` alone: a nested block or null
    const item = start + 2;
    if (line[item] === '-' && line[item + 1] === ' ') list.push(readList(cursor, item, item));
    else if (isKeyAt(line, item)) list.push(readMap(cursor, item, item));
    else {
      const { value, end } = readScalar(line, item, false);
      if (end !== line.length) throw unsupported;
      list.push(value);
      cursor.at++;
    }
    start = undefined;
  }
  return list;
}

/** Whether a map entry (`key: …` or `key:`) starts at `start`. */
function isKeyAt(line: string, start: number): boolean {
  const quote = line[start];
  if (quote === '"' || quote === "'") {
    try {
      const { end } = readScalar(line, start, false);
      return line[end] === ':';
    } catch {
      return false;
    }
  }
  const colon = line.indexOf(': ', start);
  return colon >= 0 || line.endsWith(':');
}

/** Reads one YAML document of the fast subset; undefined when the text is outside it. */
export function readYamlSubset(text: string): unknown {
  try {
    if (text.includes('\r') || text.includes('\t') || text.startsWith('%') || text.startsWith('---')) return undefined;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (lines.length === 0 || lines.some((line) => line !== '' && line.trimEnd() !== line)) return undefined;
    const cursor: Cursor = { lines, at: 0 };
    if (indentOf(lines[0]!) !== 0) return undefined;
    const value = lines[0]!.startsWith('- ') ? readList(cursor, 0, undefined) : readMap(cursor, 0, undefined);
    return cursor.at === lines.length ? value : undefined;
  } catch (error) {
    if (error instanceof Unsupported || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Reads one YAML document with the library: integers beyond 2^53 as bigints (the reference for the fast reader). */
export function parseYamlWithLibrary(text: string): unknown {
  return parseWithLibrary(text, readOptions) as unknown;
}

/** Reads one YAML document: the subset fast, anything else with the library (same values, same errors). */
export function parseYaml(text: string): unknown {
  return readYamlSubset(text) ?? parseYamlWithLibrary(text);
}

