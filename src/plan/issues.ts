// Schema issues as errors a person can act on: each zod issue at its line and column, with the fields that are
// allowed there and a "did you mean" for a misspelled key or kind.
import type { z } from 'zod';
import { errorAt, Severity } from './parse.ts';
import type { PathSegment, PlanError, SourceDocument } from './parse.ts';

// ---------------------------------------------------------------------------------------------------------------
// Words

/** Edit distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest candidate when it is close enough to be a typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const found = distance(word, candidate);
    if (found < bestDistance) {
      best = candidate;
      bestDistance = found;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  return String(value);
}

const typeWords: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'true or false', object: 'a mapping', array: 'a list',
  record: 'a mapping', map: 'a mapping', null: 'an empty value', bigint: 'an integer', date: 'a date',
};

// ---------------------------------------------------------------------------------------------------------------
// Schema issues → positioned errors

interface SchemaDefinition {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

/** The schema of the value at a path, through optional/default/pipe wrappers, lists and maps. */
function schemaAt(schema: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  const unwrap = (node: z.ZodType): z.ZodType => {
    let inner = node;
    for (;;) {
      const definition = inner.def as SchemaDefinition;
      if (definition.innerType) inner = definition.innerType;
      else if (definition.type === 'pipe' && definition.in) inner = definition.in;
      else return inner;
    }
  };
  for (const segment of path) {
    if (!current) return undefined;
    const definition = unwrap(current).def as SchemaDefinition;
    if (definition.type === 'object') current = definition.shape?.[String(segment)];
    else if (definition.type === 'array') current = definition.element;
    else if (definition.type === 'record') current = definition.valueType;
    else return undefined;
  }
  return current ? unwrap(current) : undefined;
}

function fieldsAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const node = schemaAt(schema, path);
  const definition = node?.def as SchemaDefinition | undefined;
  return definition?.type === 'object' && definition.shape ? Object.keys(definition.shape) : [];
}

export function issueErrors(source: SourceDocument, schema: z.ZodType, issue: z.core.$ZodIssue): PlanError[] {
  const path = issue.path as PathSegment[];
  const at = (message: string, options: { path?: PathSegment[]; at?: 'key' | 'value'; offset?: number; severity?: Severity } = {}) =>
    errorAt(source, options.path ?? path, message, options);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = fieldsAt(schema, path);
      return issue.keys.map((key) => {
        const guess = suggest(key, known);
        const hint = guess ? `did you mean "${guess}"?` : known.length > 0 ? `known fields: ${known.join(', ')}` : '';
        return at(`unknown field${hint ? `; ${hint}` : ''}`, { path: [...path, key], at: 'key' });
      });
    }
    case 'invalid_type': {
      if (issue.input === undefined) return [at('required field is missing')];
      // YAML reads 8080, true and 1.10 as numbers and booleans; a string field needs them quoted.
      const quote = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')
        ? `; quote it to make it a string: "${String(issue.input)}"` : '';
      return [at(`expected ${typeWords[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}${quote}`)];
    }
    case 'invalid_value':
      return [at(`must be one of ${issue.values.map(String).join(', ')}; got ${describeValue(issue.input)}`)];
    case 'too_small': {
      if (issue.message && !issue.message.startsWith('Too small')) return [at(issue.message)];
      const minimum = Number(issue.minimum);
      if (issue.origin === 'array') return [at(`must list at least ${minimum} item${minimum === 1 ? '' : 's'}`)];
      if (issue.origin === 'string') return [at(minimum === 1 ? 'must not be empty' : `must have at least ${minimum} characters`)];
      return [at(`must be ${issue.inclusive ? 'at least' : 'more than'} ${minimum}; got ${describeValue(issue.input)}`)];
    }
    case 'too_big': {
      const maximum = Number(issue.maximum);
      if (issue.origin === 'array') return [at(`must list at most ${maximum} items`)];
      if (issue.origin === 'string') return [at(`must have at most ${maximum} characters`)];
      return [at(`must be ${issue.inclusive ? 'at most' : 'less than'} ${maximum}; got ${describeValue(issue.input)}`)];
    }
    case 'invalid_format':
      return [at(issue.message.startsWith('Invalid') ? `invalid ${issue.format}` : issue.message)];
    case 'custom': {
      const params = (issue.params ?? {}) as { offset?: number; at?: 'key' | 'value'; severity?: Severity };
      return [at(issue.message, { at: params.at, offset: params.offset, severity: params.severity })];
    }
    case 'not_multiple_of':
      return [at(`must be a multiple of ${String(issue.divisor)}`)];
    default:
      return [at(issue.message)];
  }
}
