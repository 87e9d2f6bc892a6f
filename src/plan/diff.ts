// What a change to the plans means, in words a reviewer understands: plans added and removed, clusters, what is
// replicated (kinds, namespaces, names, labels), transforms, delete policy, secrets and the rest, field by field.
// Pure: two sets of plans in, lines out.
import { isDeepStrictEqual } from 'node:util';
import type { RecoveryPlan, ResourceSelector, Transform } from './schema.ts';
import { transformActions } from './schema.ts';

export interface PlanDiff {
  plan: string;
  change: 'added' | 'removed' | 'changed';
  lines: string[];
}

const list = (values: readonly string[] | undefined, all: string) => (values?.length ? values.join(', ') : all);

/** "apps/Deployment, Service in namespaces shop-* named web-* with labels tier=web" */
export function describeSelector(selector: ResourceSelector | undefined): string {
  if (!selector) return 'every object';
  const parts = [list(selector.kinds, 'every namespaced kind')];
  if (selector.namespaces) parts.push(`in namespaces ${selector.namespaces.join(', ')}`);
  if (selector.names) parts.push(`named ${selector.names.join(', ')}`);
  if (selector.labelSelector) parts.push(`with labels ${selector.labelSelector}`);
  return parts.join(' ');
}

/** "deactivate Deployments…" — one transform as a sentence. */
export function describeTransform(transform: Transform): string {
  const target = transform.select ? ` (for ${describeSelector(transform.select)})` : '';
  const action = transformActions.find((name) => transform[name] !== undefined);
  switch (action) {
    case 'deactivate': {
      const extra = [...(transform.deactivate?.replicasPaths ?? []), ...(transform.deactivate?.suspendPaths ?? [])];
      return `deactivate workloads on the stand-by${extra.length ? ` (also ${extra.join(', ')})` : ''}${target}`;
    }
    case 'namespaceMapping':
      return `map namespaces ${Object.entries(transform.namespaceMapping ?? {}).map(([from, to]) => `${from} → ${to}`).join(', ')}${target}`;
    case 'images':
      return `rewrite images ${(transform.images ?? []).map((rule) => `${rule.from} → ${rule.to}`).join(', ')}${target}`;
    case 'labels':
    case 'annotations': {
      const edit = transform[action]!;
      const set = Object.entries(edit.set ?? {}).map(([key, value]) => `${key}=${value}`);
      return `${action}: ${[set.length ? `set ${set.join(', ')}` : '', edit.remove?.length ? `remove ${edit.remove.join(', ')}` : ''].filter(Boolean).join('; ')}${target}`;
    }
    case 'env': {
      const edit = transform.env!;
      const set = Object.entries(edit.set ?? {}).map(([key, value]) => `${key}=${value}`);
      return `environment of container ${edit.container}: ${[set.length ? `set ${set.join(', ')}` : '', edit.remove?.length ? `remove ${edit.remove.join(', ')}` : ''].filter(Boolean).join('; ')}${target}`;
    }
    case 'args':
      return `arguments of container ${transform.args!.container}: ${transform.args!.set ? `replace with ${JSON.stringify(transform.args!.set)}` : `append ${JSON.stringify(transform.args!.append)}`}${target}`;
    case 'jsonPatch':
      return `JSON patch ${(transform.jsonPatch ?? []).map((operation) => `${operation.op} ${operation.path}`).join(', ')}${target}`;
    default:
      return `transform ${JSON.stringify(transform)}`;
  }
}

function compareLists<T>(what: string, before: readonly T[], after: readonly T[], describe: (item: T) => string, lines: string[]): void {
  const beforeText = before.map(describe);
  const afterText = after.map(describe);
  for (const text of afterText) if (!beforeText.includes(text)) lines.push(`${what} added: ${text}`);
  for (const text of beforeText) if (!afterText.includes(text)) lines.push(`${what} removed: ${text}`);
  if (!lines.some((line) => line.startsWith(what)) && !isDeepStrictEqual(beforeText, afterText)) lines.push(`${what} reordered: ${afterText.join('; ')}`);
}

function format(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Field-by-field changes of the remaining settings, as `path: before → after`. */
function compareFields(prefix: string, before: unknown, after: unknown, lines: string[]): void {
  if (isDeepStrictEqual(before, after)) return;
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject(before) && isObject(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) compareFields(`${prefix}.${key}`, before[key], after[key], lines);
    return;
  }
  lines.push(`${prefix}: ${before === undefined ? '(unset)' : format(before)} → ${after === undefined ? '(unset)' : format(after)}`);
}

function describeChanges(before: RecoveryPlan, after: RecoveryPlan): string[] {
  const lines: string[] = [];
  const [a, b] = [before.spec, after.spec];
  if (a.source.cluster !== b.source.cluster) lines.push(`source cluster: ${a.source.cluster} → ${b.source.cluster}`);
  if (a.destination.cluster !== b.destination.cluster) lines.push(`destination cluster: ${a.destination.cluster} → ${b.destination.cluster}`);
  if (a.suspend !== b.suspend) lines.push(b.suspend ? 'replication is SUSPENDED' : 'replication resumes (suspend removed)');
  compareLists('replicates', a.resources.include, b.resources.include, describeSelector, lines);
  compareLists('leaves out', a.resources.exclude, b.resources.exclude, describeSelector, lines);
  compareLists('transform', a.transforms, b.transforms, describeTransform, lines);
  if (a.deletes.propagate !== b.deletes.propagate) lines.push(b.deletes.propagate ? 'deletes in the source are now replicated' : 'deletes in the source are NO LONGER replicated');
  if (!isDeepStrictEqual(a.deletes.guard, b.deletes.guard)) {
    const guard = (g: typeof a.deletes.guard) => `hold deletes above ${g.maxPercent}% of the plan's objects within ${g.window}${g.namespaces ? ', and every Namespace delete' : ''}`;
    lines.push(`delete guard: ${guard(a.deletes.guard)} → ${guard(b.deletes.guard)}`);
  }
  if (a.secrets.mode !== b.secrets.mode) lines.push(b.secrets.mode === 'exclude' ? 'Secrets are NO LONGER replicated' : 'Secrets are now replicated, encrypted');
  compareLists('Secrets decryptable by', a.secrets.recipients, b.secrets.recipients, (recipient) => recipient, lines);
  const rest = (spec: typeof a) => ({ mirror: spec.mirror, sync: spec.sync, reconcile: spec.reconcile, recovery: spec.recovery });
  compareFields('spec', rest(a), rest(b), lines);
  return lines;
}

export function diffPlanSets(before: Map<string, RecoveryPlan>, after: Map<string, RecoveryPlan>): PlanDiff[] {
  const diffs: PlanDiff[] = [];
  for (const name of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const [a, b] = [before.get(name), after.get(name)];
    if (!a && b) {
      diffs.push({ plan: name, change: 'added', lines: [
        `replicates ${b.spec.resources.include.map(describeSelector).join('; ')} from ${b.spec.source.cluster} to ${b.spec.destination.cluster}`,
        ...b.spec.transforms.map((transform) => `transform: ${describeTransform(transform)}`),
        `Secrets: ${b.spec.secrets.mode === 'encrypt' ? `encrypted to ${b.spec.secrets.recipients.length} recipient(s)` : 'not replicated'}; deletes ${b.spec.deletes.propagate ? 'replicated' : 'not replicated'}`,
      ] });
    } else if (a && !b) {
      diffs.push({ plan: name, change: 'removed', lines: [`replication from ${a.spec.source.cluster} to ${a.spec.destination.cluster} stops; the stand-by keeps what it has`] });
    } else if (a && b) {
      const lines = describeChanges(a, b);
      if (lines.length) diffs.push({ plan: name, change: 'changed', lines });
    }
  }
  return diffs;
}

export function formatPlanDiff(diffs: PlanDiff[], style: 'text' | 'markdown'): string {
  if (diffs.length === 0) return style === 'markdown' ? 'No change in meaning to any plan.\n' : 'no change in meaning to any plan\n';
  if (style === 'markdown') {
    return `${diffs.map((diff) => `### Plan \`${diff.plan}\` ${diff.change}\n\n${diff.lines.map((line) => `- ${line}`).join('\n')}\n`).join('\n')}`;
  }
  return diffs.map((diff) => `plan ${diff.plan} ${diff.change}:\n${diff.lines.map((line) => `  ${line}`).join('\n')}\n`).join('');
}
