// Label selectors in the string syntax of `kubectl get -l`: the tokenizer and parser, the matcher the pipeline
// uses to select objects, and the formatter.
import { SyntaxProblem } from './syntax-problem.ts';
import { labelValueProblem, qualifiedNameProblem } from './names.ts';

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
  // ~90 lines on purpose: one loop over the tokens, kept whole so a requirement's grammar reads top to bottom.
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
