// Checks of one valid RecoveryPlan that its schema cannot express: kinds that exist and are replicated, JSON
// patches whose paths can apply to the selected kinds.
import { errorAt, formatKind, parseJsonPointer, parseKindPattern, Severity } from './parse.ts';
import type { KindPattern, PathSegment, PlanError, SourceDocument } from './parse.ts';
import { quoteShort, shortened } from '../util/quote.ts';
import type { JsonPatchOperation, RecoveryPlan, ResourceSelector } from './schema.ts';
import { suggest } from './issues.ts';
import { alwaysExcluded, isClusterScoped, kindShape, type Shape, wellKnownKinds } from './well-known-kinds.ts';

// ---------------------------------------------------------------------------------------------------------------
// Checks of one plan

function kindProblems(text: string): { message: string; severity: Severity } | undefined {
  const pattern = parseKindPattern(text);
  if (pattern.kind === '*') return undefined;
  const group = wellKnownKinds[pattern.group];
  if (!group) return undefined; // a custom resource's group: discovery decides at run time
  if (group[pattern.kind]) {
    if (alwaysExcluded.has(text)) return { message: `${text} objects are never replicated (lifeboat's default exclusions); this selects nothing`, severity: Severity.warning };
    return undefined;
  }
  if (pattern.group === '') {
    const home = Object.entries(wellKnownKinds).find(([name, members]) => name !== '' && members[pattern.kind]);
    if (home) return { message: `unknown core kind "${pattern.kind}": it is in group ${home[0]}; write "${home[0]}/${pattern.kind}"`, severity: Severity.error };
    const guess = suggest(pattern.kind, Object.keys(group));
    return {
      message: `unknown core kind "${pattern.kind}"${guess ? `; did you mean "${guess}"?` : ': kinds of other groups, and custom resources, are written group/Kind'}`,
      severity: Severity.error,
    };
  }
  const guess = suggest(pattern.kind, Object.keys(group));
  return {
    message: `unknown kind "${pattern.kind}" in group ${pattern.group}; ${guess ? `did you mean "${guess}"?` : `known: ${Object.keys(group).sort().join(', ')}`}`,
    severity: Severity.error,
  };
}

function checkSelectorKinds(source: SourceDocument, selector: ResourceSelector | undefined, path: PathSegment[], include: boolean): PlanError[] {
  const errors: PlanError[] = [];
  (selector?.kinds ?? []).forEach((text, index) => {
    const found = kindProblems(text);
    if (found && (found.severity === Severity.error || include)) errors.push(errorAt(source, [...path, 'kinds', index], found.message, { severity: found.severity }));
    if (include && selector?.namespaces && isClusterScoped(parseKindPattern(text)) === true) {
      errors.push(errorAt(source, [...path, 'kinds', index], `${text} is cluster-scoped: namespaces do not filter it; choose its objects with names`, { severity: Severity.warning }));
    }
  });
  return errors;
}

type PointerProblem = { severity: Severity; message: string };

/** Whether a JSON patch location can be used for `mode` on objects of a shape. */
function pointerProblem(shape: Shape, segments: string[], mode: 'exists' | 'add'): PointerProblem | undefined {
  let current = shape;
  let warning: PointerProblem | undefined;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    // Quoted short: a pointer can be thousands of segments long, and the message must stay one readable line.
    const here = i === 0 ? 'it' : shortened(`/${segments.slice(0, i).join('/')}`);
    const pointer = shortened(`/${segments.slice(0, i + 1).join('/')}`);
    if (current.type === 'any') return warning;
    if (current.type === 'object') {
      const field = current.fields[segment];
      if (!field) {
        const guess = suggest(segment, Object.keys(current.fields));
        return { severity: Severity.error, message: `${here} has no field ${quoteShort(segment)}${guess ? `; did you mean "${guess}"?` : ''}` };
      }
      if (!field.always && !(last && mode === 'add')) warning ??= { severity: Severity.warning, message: `${pointer} is optional` };
      current = field.shape;
    } else {
      if (segment === '-') {
        if (!(last && mode === 'add')) return { severity: Severity.error, message: `"-" (after the end of ${here}) only works as the last part of an add` };
        return warning;
      }
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return { severity: Severity.error, message: `${here} is a list: use an index (0, 1, ...) or "-" to append` };
      if (!(segment === '0' && current.nonEmpty) && !(last && mode === 'add' && segment === '0')) warning ??= { severity: Severity.warning, message: `${pointer} may not exist` };
      current = current.items;
    }
  }
  return warning;
}

function selectedKinds(plan: RecoveryPlan, select: ResourceSelector | undefined): KindPattern[] {
  const texts = select?.kinds ?? plan.spec.resources.include.flatMap((entry) => entry.kinds ?? ['*']);
  return [...new Set(texts)].map(parseKindPattern);
}

function checkJsonPatch(source: SourceDocument, plan: RecoveryPlan, select: ResourceSelector | undefined, operations: JsonPatchOperation[], path: PathSegment[]): PlanError[] {
  const errors: PlanError[] = [];
  const targets = selectedKinds(plan, select).map((pattern) => ({ pattern, shape: kindShape(pattern) })).filter((target) => target.shape);
  operations.forEach((operation, index) => {
    const locations: Array<{ field: 'path' | 'from'; mode: 'exists' | 'add' }> = [];
    switch (operation.op) {
      case 'add': locations.push({ field: 'path', mode: 'add' }); break;
      case 'remove': case 'replace': case 'test': locations.push({ field: 'path', mode: 'exists' }); break;
      case 'move': case 'copy': locations.push({ field: 'from', mode: 'exists' }, { field: 'path', mode: 'add' }); break;
      default: {
        const unreachable: never = operation.op;
        throw new Error(`unknown op ${String(unreachable)}`);
      }
    }
    for (const { field, mode } of locations) {
      const pointer = operation[field];
      if (pointer === undefined) continue;
      const segments = parseJsonPointer(pointer);
      const problems = targets.map((target) => ({ kind: formatKind(target.pattern), problem: pointerProblem(target.shape!, segments, mode) }));
      const failure = problems.find((entry) => entry.problem?.severity === Severity.error);
      const warning = problems.find((entry) => entry.problem?.severity === Severity.warning);
      const subject = `op "${operation.op}" ${field === 'from' ? 'from' : 'at'} ${quoteShort(pointer)}`;
      if (failure) {
        errors.push(errorAt(source, [...path, index, field], `${subject} cannot apply to ${failure.kind}: ${failure.problem!.message}`));
      } else if (warning) {
        const advice = operation.op === 'replace' ? '; "add" sets it either way' : '';
        errors.push(errorAt(source, [...path, index, field], `${subject} fails on ${warning.kind} objects without it: ${warning.problem!.message}${advice}`, { severity: Severity.warning }));
      }
    }
  });
  return errors;
}

/** Checks of one valid plan that the schema cannot express: kinds that exist, JSON patches that can apply. */
export function checkPlan(source: SourceDocument, plan: RecoveryPlan): PlanError[] {
  const errors: PlanError[] = [];
  plan.spec.resources.include.forEach((entry, index) => errors.push(...checkSelectorKinds(source, entry, ['spec', 'resources', 'include', index], true)));
  plan.spec.resources.exclude.forEach((entry, index) => errors.push(...checkSelectorKinds(source, entry, ['spec', 'resources', 'exclude', index], false)));
  plan.spec.transforms.forEach((transform, index) => {
    const path = ['spec', 'transforms', index];
    errors.push(...checkSelectorKinds(source, transform.select, [...path, 'select'], false));
    if (transform.jsonPatch) errors.push(...checkJsonPatch(source, plan, transform.select, transform.jsonPatch, [...path, 'jsonPatch']));
  });
  return errors;
}
