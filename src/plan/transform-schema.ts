// What a RecoveryPlan selects and how it transforms it: the resource selector and the transforms schema (label and
// annotation edits, images, env, args, JSON patches), exactly one action per transform.
import { z } from 'zod';
import { dnsLabelProblem, labelValueProblem, qualifiedNameProblem } from './parse.ts';
import { always, checkMapKeys, imagePrefix, isRecord, jsonPointer, kindPattern, labelSelector, nameGlob, namespaceGlob, present, reservedPrefix, stringMap } from './schema-formats.ts';

export const ResourceSelectorSchema = z.strictObject({
  namespaces: z.array(namespaceGlob).min(1, { error: 'must list at least one namespace; omit namespaces to select every namespace' }).max(100).optional()
    .describe('Namespace globs (`shop-*`); every namespace when absent. Not applied to cluster-scoped kinds.'),
  kinds: z.array(kindPattern).min(1, { error: 'must list at least one kind; omit kinds to select every namespaced kind' }).max(100).optional()
    .describe('Kinds; every namespaced kind when absent. Cluster-scoped kinds are selected only when named explicitly.'),
  names: z.array(nameGlob).min(1, { error: 'must list at least one name; omit names to select every name' }).max(100).optional()
    .describe('Object name globs; every name when absent.'),
  labelSelector: labelSelector.optional(),
}).describe('Selects objects: every field given must match (namespaces, kinds, names, labels).');

const labelEdit = (what: 'label' | 'annotation') => z.strictObject({
  set: stringMap().optional().describe(`${what === 'label' ? 'Labels' : 'Annotations'} to add or overwrite.`),
  remove: z.array(z.string()).max(100).optional().describe(`${what === 'label' ? 'Label' : 'Annotation'} keys to remove.`),
}).superRefine((edit, context) => {
  if (!present(edit, 'set') && !present(edit, 'remove')) context.addIssue({ code: 'custom', path: [], message: 'set or remove (or both) is required' });
  const reserved = (key: string) => key.startsWith(reservedPrefix) ? `keys under ${reservedPrefix} are reserved for lifeboat` : qualifiedNameProblem(key);
  checkMapKeys(context, edit.set, ['set'], reserved, `${what} key`);
  if (what === 'label' && isRecord(edit.set)) {
    for (const [key, value] of Object.entries(edit.set)) {
      const found = typeof value === 'string' ? labelValueProblem(value) : undefined;
      if (found) context.addIssue({ code: 'custom', path: ['set', key], message: `invalid label value ${JSON.stringify(value)}: ${found}` });
    }
  }
  if (Array.isArray(edit.remove)) {
    edit.remove.forEach((key, index) => {
      if (typeof key !== 'string') return;
      const found = reserved(key);
      if (found) context.addIssue({ code: 'custom', path: ['remove', index], message: `invalid ${what} key ${JSON.stringify(key)}: ${found}` });
      else if (isRecord(edit.set) && Object.hasOwn(edit.set, key)) {
        context.addIssue({ code: 'custom', path: ['remove', index], message: `${JSON.stringify(key)} is both set and removed; keep one` });
      }
    });
  }
}, always);

const containerName = z.string().superRefine((value, context) => {
  if (value === '*') return;
  const found = dnsLabelProblem(value);
  if (found) context.addIssue({ code: 'custom', message: `invalid container name ${JSON.stringify(value)}: ${found}; use "*" for every container` });
}).describe('Container name (in containers and initContainers), or `*` for every container.');

const envName = (name: string) => /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name) ? undefined : 'must start with a letter, "_", "-" or "." and contain only letters, digits, "_", "-" and "."';

export const JsonPatchOperationSchema = z.strictObject({
  op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
  path: jsonPointer,
  from: jsonPointer.optional().describe('Source location, for move and copy.'),
  value: z.unknown().optional().describe('The value, for add, replace and test.'),
}).superRefine((operation, context) => {
  if (!isRecord(operation) || typeof operation.op !== 'string') return;
  const needsValue = ['add', 'replace', 'test'].includes(operation.op);
  const needsFrom = ['move', 'copy'].includes(operation.op);
  if (needsValue && !('value' in operation)) context.addIssue({ code: 'custom', path: ['value'], message: `required for op "${operation.op}"` });
  if (!needsValue && 'value' in operation) context.addIssue({ code: 'custom', path: ['value'], message: `not used by op "${operation.op}"; remove it`, params: { at: 'key' } });
  if (needsFrom && operation.from === undefined) context.addIssue({ code: 'custom', path: ['from'], message: `required for op "${operation.op}"` });
  if (!needsFrom && operation.from !== undefined) context.addIssue({ code: 'custom', path: ['from'], message: `not used by op "${operation.op}"; remove it`, params: { at: 'key' } });
  for (const field of ['path', 'from'] as const) {
    const pointer = operation[field];
    if (typeof pointer !== 'string') continue;
    if (pointer === '') context.addIssue({ code: 'custom', path: [field], message: 'must point inside the object, not at the whole object' });
    const identity = /^\/(apiVersion|kind|metadata\/name|metadata\/namespace)(\/|$)/.exec(pointer);
    if (identity) {
      context.addIssue({
        code: 'custom', path: [field],
        message: `must not change ${identity[1]!.replace('metadata/', 'metadata.')}: it is the object's identity${identity[1] === 'metadata/namespace' ? '; use a namespaceMapping transform' : ''}`,
      });
    }
  }
}, always).meta({
  // No rule for `value`: CEL cannot see a free-form (x-kubernetes-preserve-unknown-fields) field.
  'x-kubernetes-validations': [
    { rule: "self.op in ['move', 'copy'] == has(self.from)", message: 'from is required for move and copy, and not used by the other ops' },
  ],
}).describe('One RFC 6902 operation.');

/** The actions of a transform, in the order they are documented; a transform has exactly one. */
export const transformActions = ['deactivate', 'namespaceMapping', 'images', 'labels', 'annotations', 'env', 'args', 'jsonPatch'] as const;
export type TransformAction = (typeof transformActions)[number];

export const TransformSchema = z.strictObject({
  select: ResourceSelectorSchema.optional().describe('Objects this transform applies to; every object of the plan when absent.'),
  deactivate: z.strictObject({
    replicasPaths: z.array(jsonPointer).max(20).optional().describe('Custom resources: pointers set to 0 (the original is kept in an annotation).'),
    suspendPaths: z.array(jsonPointer).max(20).optional().describe('Custom resources: pointers set to true (the original is kept in an annotation).'),
  }).optional().describe(
    'Keep the stand-by asleep: Deployments, StatefulSets and ReplicaSets get 0 replicas, CronJobs and Jobs are suspended, '
    + 'HorizontalPodAutoscalers keep minReplicas 1 with no target; originals are saved in annotations for activation.',
  ),
  namespaceMapping: z.record(z.string(), z.string()).optional().describe('Source namespace → destination namespace.'),
  images: z.array(z.strictObject({
    from: imagePrefix.describe('Registry or repository prefix as written in the pod spec, e.g. `registry.example.com/shop`.'),
    to: imagePrefix.describe('Its replacement, e.g. `dr-registry.example.com/shop`.'),
  })).min(1, { error: 'must list at least one rewrite' }).max(50).optional()
    .describe('Image prefix rewrites, first match wins; a prefix matches whole path components, tags and digests are kept.'),
  labels: labelEdit('label').optional(),
  annotations: labelEdit('annotation').optional(),
  env: z.strictObject({
    container: containerName,
    set: stringMap().optional().describe('Variables to set (plain values; valueFrom entries with the same name are replaced).'),
    remove: z.array(z.string()).max(100).optional().describe('Variables to remove.'),
  }).superRefine((edit, context) => {
    if (!present(edit, 'set') && !present(edit, 'remove')) context.addIssue({ code: 'custom', path: [], message: 'set or remove (or both) is required' });
    checkMapKeys(context, edit.set, ['set'], envName, 'environment variable name');
    if (Array.isArray(edit.remove)) {
      edit.remove.forEach((name, index) => {
        const found = typeof name === 'string' ? envName(name) : undefined;
        if (found) context.addIssue({ code: 'custom', path: ['remove', index], message: `invalid environment variable name ${JSON.stringify(name)}: ${found}` });
      });
    }
  }, always).optional().describe('Environment variables of a container, by container name.'),
  args: z.strictObject({
    container: containerName,
    set: z.array(z.string()).max(100).optional().describe('Replace the arguments with these.'),
    append: z.array(z.string()).max(100).optional().describe('Append these arguments.'),
  }).superRefine((edit, context) => {
    const set = present(edit, 'set');
    const append = present(edit, 'append');
    if (set && append) context.addIssue({ code: 'custom', path: ['append'], message: 'set either set or append, not both', params: { at: 'key' } });
    if (!set && !append) context.addIssue({ code: 'custom', path: [], message: 'set (replace the arguments) or append is required' });
  }, always).meta({
    'x-kubernetes-validations': [{ rule: 'has(self.set) != has(self.append)', message: 'set exactly one of set or append' }],
  }).optional().describe('Arguments of a container, by container name.'),
  jsonPatch: z.array(JsonPatchOperationSchema).min(1, { error: 'must list at least one operation' }).max(50).optional()
    .describe('RFC 6902 JSON patch operations: the escape hatch for what the other actions cannot do.'),
}).superRefine((transform, context) => {
  if (!isRecord(transform)) return;
  const actions = transformActions.filter((action) => transform[action] !== undefined);
  if (actions.length === 0) {
    context.addIssue({ code: 'custom', path: [], message: `needs one action: ${transformActions.slice(0, -1).join(', ')} or ${transformActions.at(-1)}` });
  }
  for (const extra of actions.slice(1)) {
    context.addIssue({ code: 'custom', path: [extra], message: `a transform has exactly one action and this one already has ${actions[0]}; split it into two transforms`, params: { at: 'key' } });
  }
  const mapping = transform.namespaceMapping;
  if (isRecord(mapping)) {
    if (Object.keys(mapping).length === 0) context.addIssue({ code: 'custom', path: ['namespaceMapping'], message: 'must map at least one namespace' });
    checkMapKeys(context, mapping, ['namespaceMapping'], dnsLabelProblem, 'source namespace');
    const targets = new Map<string, string>();
    for (const [from, to] of Object.entries(mapping)) {
      if (typeof to !== 'string') continue;
      const found = dnsLabelProblem(to);
      if (found) context.addIssue({ code: 'custom', path: ['namespaceMapping', from], message: `invalid destination namespace ${JSON.stringify(to)}: ${found}` });
      const earlier = targets.get(to);
      if (earlier !== undefined) {
        context.addIssue({ code: 'custom', path: ['namespaceMapping', from], message: `"${earlier}" and "${from}" both map to "${to}": their objects would collide in one namespace` });
      }
      targets.set(to, from);
    }
  }
  if (Array.isArray(transform.images)) {
    transform.images.forEach((rewrite, index) => {
      if (isRecord(rewrite) && typeof rewrite.from === 'string' && rewrite.from === rewrite.to) {
        context.addIssue({ code: 'custom', path: ['images', index, 'to'], message: 'is the same as from; this rewrite does nothing' });
      }
    });
  }
}, always).meta({
  'x-kubernetes-validations': [{
    rule: transformActions.map((action) => `(has(self.${action}) ? 1 : 0)`).join(' + ') + ' == 1',
    message: `set exactly one action: ${transformActions.join(', ')}`,
  }],
}).describe('One transform: an optional select and exactly one action.');

