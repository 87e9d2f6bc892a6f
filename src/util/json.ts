// Lossless JSON for the objects lifeboat carries. The API server's integers are int64 (a custom resource may hold any
// of them), JavaScript numbers are exact only to 2^53: an integer literal beyond that is read as a bigint, the one
// representation every stage keeps (the bus's JSON, the mirror's YAML, the JSON applied to the destination), so
// 9223372036854775807 arrives digit for digit. Objects without such a literal (nearly all) take the plain JSON.parse.

/**
 * 16 digits where a JSON number can start (after `:`, `,` or `[`): the shortest integer literal that can be beyond
 * 2^53 (9007199254740992 has 16). Scanning costs about a seventh of JSON.parse; digit runs inside strings (digests,
 * hex tokens) rarely follow those characters, so they seldom send a text to the slower reviver.
 */
const mayHoldLargeInteger = /[:,[]\s*-?\d{16}/;
const integerLiteral = /^-?\d+$/;

/** An integer literal as a number when that is exact, else as a bigint (the same rule for JSON and for YAML). */
export function integerOf(literal: string): number | bigint {
  const value = Number(literal);
  return Number.isSafeInteger(value) ? value : BigInt(literal);
}

function losslessInteger(_key: string, value: unknown, context: { source?: string }): unknown {
  return typeof value === 'number' && !Number.isSafeInteger(value) && context.source !== undefined && integerLiteral.test(context.source)
    ? BigInt(context.source) : value;
}

/** JSON.parse, with integers beyond 2^53 as bigints (throws SyntaxError as JSON.parse does). */
export function parseJson(text: string): unknown {
  return mayHoldLargeInteger.test(text) ? JSON.parse(text, losslessInteger as (key: string, value: unknown) => unknown) : JSON.parse(text);
}

/** Node 24's JSON.rawJSON (TypeScript's lib does not declare it yet): a value JSON.stringify writes as the text given. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function bigintAsDigits(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? rawJSON(value.toString()) : value;
}

/** JSON.stringify for values that may hold bigints (written as their digits); the plain call when they hold none. */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    // Only a bigint (or a cycle, which throws again below) makes JSON.stringify throw a TypeError.
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, bigintAsDigits);
  }
}

/**
 * Characters YAML readers change or refuse although JSON carries them raw: DEL and the C1 controls (NEL, U+0085, is
 * a line break to YAML 1.1 and folds into a space), the line and paragraph separators (YAML 1.1 line breaks), the
 * byte order mark and the noncharacters U+FFFE/U+FFFF (not printable: Go's YAML reader fails).
 */
export const yamlUnsafeCharacters = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/;
const yamlUnsafeEverywhere = new RegExp(yamlUnsafeCharacters.source, 'g');

const unicodeEscape = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text with those characters as \u escapes: the same JSON, and YAML readers read the same string (a
 * server-side apply body is read as YAML by the API server). Only inside strings can they occur in JSON.
 */
export function escapeForYamlReaders(json: string): string {
  return yamlUnsafeCharacters.test(json) ? json.replace(yamlUnsafeEverywhere, unicodeEscape) : json;
}
