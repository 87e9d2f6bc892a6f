// The one source of truth for lifeboat's kinds (API group lifeboat.dev/v1alpha1): zod schemas from which the
// TypeScript types, the editor JSON Schemas and the CRDs are all derived (hack/gen-schemas.ts). Defaults live here
// and only here, as zod defaults, so a parsed plan is always complete. Checks that need one object only (formats,
// "exactly one of") live here too; checks across objects live in validate.ts.
import { Encrypter } from 'age-encryption';
import { z } from 'zod';
import { DurationError, durationPattern, parseDuration } from './duration.ts';
import {
  dnsLabelProblem, dnsSubdomainProblem, labelValueProblem, namespaceAlphabet, objectNameAlphabet, parseGlob, parseJsonPointer,
  parseKindPattern, parseLabelSelector, qualifiedNameProblem, SyntaxProblem,
} from './parse.ts';

export const apiGroup = 'lifeboat.dev';
export const apiVersion = 'lifeboat.dev/v1alpha1';

export const Kind = {
  managedCluster: 'ManagedCluster',
  recoveryPlan: 'RecoveryPlan',
  recoveryExecutionJob: 'RecoveryExecutionJob',
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
export const kinds: readonly Kind[] = [Kind.managedCluster, Kind.recoveryPlan, Kind.recoveryExecutionJob];

/** REST names of each kind, as the CRDs declare them and a Kubernetes client needs them. */
export const resourceNames = {
  ManagedCluster: { plural: 'managedclusters', singular: 'managedcluster', listKind: 'ManagedClusterList', shortNames: ['lbcluster'] },
  RecoveryPlan: { plural: 'recoveryplans', singular: 'recoveryplan', listKind: 'RecoveryPlanList', shortNames: ['lbplan'] },
  RecoveryExecutionJob: { plural: 'recoveryexecutionjobs', singular: 'recoveryexecutionjob', listKind: 'RecoveryExecutionJobList', shortNames: ['lbjob'] },
} as const satisfies Record<Kind, { plural: string; singular: string; listKind: string; shortNames: string[] }>;

/** Label and annotation keys under this prefix belong to lifeboat (`lifeboat.dev/plan`, `lifeboat.dev/revision`). */
export const reservedPrefix = 'lifeboat.dev/';

// ---------------------------------------------------------------------------------------------------------------
// String formats. Each reports one precise message; `params.offset` points into the string, `params.at: 'key'`
// at a map key rather than its value (validate.ts turns both into line:column).

type Refinement = (value: string, context: z.RefinementCtx) => void;

function syntax(parse: (text: string) => unknown): Refinement {
  return (value, context) => {
    try {
      parse(value);
    } catch (error) {
      if (!(error instanceof SyntaxProblem)) throw error;
      context.addIssue({ code: 'custom', message: error.message, params: { offset: error.offset } });
    }
  };
}

function problem(check: (text: string) => string | undefined, prefix: (text: string) => string): Refinement {
  return (value, context) => {
    const found = check(value);
    if (found) context.addIssue({ code: 'custom', message: `${prefix(value)} ${found}` });
  };
}

/**
 * Object-level checks run even when a field of the object has an error, so every problem shows at once; they read
 * their input defensively for that reason. They do not run when the object itself is not a mapping.
 */
const always = { when: (payload: { value: unknown }) => isRecord(payload.value) } as const;

const dnsLabelName = (what: string) => z.string()
  .superRefine(problem(dnsLabelProblem, (text) => `invalid ${what} ${JSON.stringify(text)}:`))
  .meta({ maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' });

const dnsSubdomainName = (what: string) => z.string()
  .superRefine(problem(dnsSubdomainProblem, (text) => `invalid ${what} ${JSON.stringify(text)}:`))
  .meta({ maxLength: 253 });

const namespaceGlob = z.string().superRefine(syntax((text) => parseGlob(text, namespaceAlphabet)))
  .describe('A namespace name or glob: `*` any characters, `?` one character, `[a-z]` a character class.');

const nameGlob = z.string().superRefine(syntax((text) => parseGlob(text, objectNameAlphabet)))
  .describe('An object name or glob: `*` any characters, `?` one character, `[a-z]` a character class.');

const kindPattern = z.string().superRefine(syntax(parseKindPattern))
  .describe('`Kind` for the core group (`ConfigMap`), `group/Kind` for the others (`apps/Deployment`), `group/*`, or `*` (every namespaced kind).');

const labelSelector = z.string().superRefine(syntax(parseLabelSelector))
  .describe('A Kubernetes label selector, as for `kubectl get -l`: `app=web,tier in (a,b),!legacy,env!=dev`.');

const jsonPointer = z.string().superRefine(syntax(parseJsonPointer))
  .describe('An RFC 6901 JSON pointer into the object, e.g. `/spec/replicas`.');

function duration() {
  return z.string()
    .superRefine((value, context) => {
      try {
        if (parseDuration(value) <= 0) context.addIssue({ code: 'custom', message: `duration ${JSON.stringify(value)} must be longer than 0` });
      } catch (error) {
        if (!(error instanceof DurationError)) throw error;
        context.addIssue({ code: 'custom', message: error.message });
      }
    })
    .meta({ pattern: durationPattern });
}

/** Why a string is not an age recipient, or undefined when age-encryption accepts it. */
export function ageRecipientProblem(text: string): string | undefined {
  if (/^AGE-SECRET-KEY-/i.test(text)) return 'this is an age identity, a private key: put its public key (age1...) here and keep the identity secret';
  try {
    new Encrypter().addRecipient(text);
    return undefined;
  } catch {
    return `invalid age recipient ${JSON.stringify(text)}: expected an age public key (age1...), as printed by age-keygen`;
  }
}

const ageRecipient = z.string()
  .superRefine((value, context) => {
    const found = ageRecipientProblem(value);
    if (found) context.addIssue({ code: 'custom', message: found });
  })
  .describe('An age public key (`age1...`); the matching identity decrypts Secrets at the destination.');

/**
 * An image prefix as the pipeline compares it: one trailing "/" (`registry.example.com/`) means the same as none,
 * since people write a prefix the way it reads in front of an image name. The schema applies it, so a parsed plan
 * never has the "/" and nothing after parsing needs to know.
 */
export function normalizeImagePrefix(text: string): string {
  return text.endsWith('/') ? text.slice(0, -1) : text;
}

/** Why an image prefix is not a registry or repository prefix (`registry.example.com/team`), or undefined. */
export function imagePrefixProblem(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return `image prefix ${JSON.stringify(text)} must not have a scheme: write the registry host, e.g. "registry.example.com/team"`;
  const parts = normalizeImagePrefix(text).split('/');
  const last = parts.at(-1)!;
  if (text.includes('@')) return `image prefix ${JSON.stringify(text)} must not have a digest: prefixes rewrite registries and repositories, digests are kept`;
  // A ":" in the last part is a tag, except a registry's port when the prefix is only a host ("registry:5000").
  if (parts.length > 1 ? last.includes(':') : /:(?![0-9]+$)/.test(last)) {
    return `image prefix ${JSON.stringify(text)} must not have a tag: prefixes rewrite registries and repositories, tags are kept`;
  }
  if (parts.includes('')) return `image prefix ${JSON.stringify(text)} has an empty path component: write one "/" between parts, e.g. "registry.example.com/team"`;
  const [first, ...rest] = parts;
  const host = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$/;
  const component = /^[a-z0-9]+([._-]+[a-z0-9]+)*$/;
  if (!host.test(first!) && !component.test(first!)) return `invalid image prefix ${JSON.stringify(text)}: ${JSON.stringify(first)} is neither a registry host nor a repository name`;
  const bad = rest.find((part) => !component.test(part));
  if (bad !== undefined) return `invalid image prefix ${JSON.stringify(text)}: repository part ${JSON.stringify(bad)} must be lowercase letters, digits and separators (".", "_", "-")`;
  return undefined;
}

// Checked as written (messages quote the user's text), then normalized.
const imagePrefix = z.string().superRefine((value, context) => {
  const found = imagePrefixProblem(value);
  if (found) context.addIssue({ code: 'custom', message: found });
}).overwrite(normalizeImagePrefix);

const stringMap = () => z.record(z.string(), z.string());

function checkMapKeys(context: z.RefinementCtx, map: unknown, path: Array<string | number>, check: (key: string) => string | undefined, what: string) {
  if (!isRecord(map)) return;
  for (const key of Object.keys(map)) {
    const found = check(key);
    if (found) context.addIssue({ code: 'custom', path: [...path, key], message: `invalid ${what} ${JSON.stringify(key)}: ${found}`, params: { at: 'key' } });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const present = (value: unknown, key: string) => isRecord(value) && value[key] !== undefined;

// ---------------------------------------------------------------------------------------------------------------
// Shared shapes

const ConditionSchema = z.strictObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().min(0).optional(),
}).describe('A standard Kubernetes condition.');

// One condition per type (API conventions: a map keyed by `type`), so server-side apply merges them by type.
const conditions = z.array(ConditionSchema).max(32).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

export const ObjectMetaSchema = z.strictObject({
  name: dnsLabelName('name').describe('Name of the object: a DNS-1123 label, as it is used in label values, paths and keys.'),
  namespace: dnsLabelName('namespace').optional().describe('Namespace, when applied as a custom resource; ignored in the plans repo.'),
  labels: stringMap().optional(),
  annotations: stringMap().optional(),
}).superRefine((metadata, context) => {
  checkMapKeys(context, metadata.labels, ['labels'], qualifiedNameProblem, 'label key');
  checkMapKeys(context, metadata.annotations, ['annotations'], qualifiedNameProblem, 'annotation key');
}, always);

const timestamp = () => z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time with a time zone, e.g. 2025-03-01T12:00:00Z' });

// ---------------------------------------------------------------------------------------------------------------
// ManagedCluster

export const ManagedClusterSpecSchema = z.strictObject({
  kubeconfig: z.strictObject({
    path: z.string().min(1, { error: 'must not be empty' }).describe('Path of a kubeconfig file, relative to the file that defines this cluster (or absolute, or ~/...).'),
    context: z.string().min(1, { error: 'must not be empty' }).optional().describe("Context to use; the kubeconfig's current-context when absent."),
  }).optional().describe('A kubeconfig file and context (CLI mode).'),
  secretRef: z.strictObject({
    name: dnsSubdomainName('Secret name'),
    namespace: dnsLabelName('namespace').optional().describe("The Secret's namespace; the ManagedCluster's own when absent."),
    key: z.string().min(1).default('kubeconfig').describe('Key of the Secret holding the kubeconfig.'),
  }).optional().describe('A Secret holding a kubeconfig (operator mode).'),
}).superRefine((spec, context) => {
  const kubeconfig = present(spec, 'kubeconfig');
  const secretRef = present(spec, 'secretRef');
  if (kubeconfig && secretRef) context.addIssue({ code: 'custom', path: ['secretRef'], message: 'set either kubeconfig or secretRef, not both', params: { at: 'key' } });
  if (!kubeconfig && !secretRef) context.addIssue({ code: 'custom', path: [], message: 'set one of kubeconfig (a file and context) or secretRef (a Secret holding a kubeconfig)' });
}, always).meta({
  'x-kubernetes-validations': [{ rule: 'has(self.kubeconfig) != has(self.secretRef)', message: 'set exactly one of kubeconfig or secretRef' }],
}).describe('How to reach a cluster.');

export const ManagedClusterStatusSchema = z.strictObject({
  reachable: z.boolean().optional(),
  serverVersion: z.string().optional(),
  lastCheckTime: z.string().optional(),
  message: z.string().optional(),
  conditions,
});

export const ManagedClusterSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(Kind.managedCluster),
  metadata: ObjectMetaSchema,
  spec: ManagedClusterSpecSchema,
  status: ManagedClusterStatusSchema.optional(),
}).describe('A cluster lifeboat reads from or writes to.');

// ---------------------------------------------------------------------------------------------------------------
// RecoveryPlan

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

export const SecretsSchema = z.strictObject({
  mode: z.enum(['encrypt', 'exclude']).default('encrypt')
    .describe('encrypt: Secret data is age-encrypted before it leaves the source; exclude: Secrets are not replicated.'),
  recipients: z.array(ageRecipient).max(50).default([]).describe('age public keys; required when mode is encrypt.'),
}).superRefine((secrets, context) => {
  if (!isRecord(secrets)) return;
  const recipients = Array.isArray(secrets.recipients) ? secrets.recipients : [];
  if (secrets.mode === 'encrypt' && recipients.length === 0) {
    context.addIssue({ code: 'custom', path: ['recipients'], message: 'required when secrets.mode is encrypt: list at least one age public key (age1...), or set mode: exclude' });
  }
  const seen = new Set<unknown>();
  recipients.forEach((recipient, index) => {
    if (seen.has(recipient)) context.addIssue({ code: 'custom', path: ['recipients', index], message: 'duplicate recipient' });
    seen.add(recipient);
  });
}, always).meta({
  // Written for the CRD's `default: {}` too, which the API server checks before nested defaults are filled in.
  'x-kubernetes-validations': [{ rule: "!has(self.mode) || self.mode != 'encrypt' || (has(self.recipients) && size(self.recipients) > 0)", message: 'recipients are required when mode is encrypt' }],
}).describe('How Secrets travel: never in plaintext outside the two clusters.');

/** Why a string is not a relative directory inside the mirror repository, or undefined. */
export function mirrorPathProblem(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (text.startsWith('/')) return 'must be relative to the root of the mirror repository';
  for (const part of text.split('/')) {
    if (part === '' || part === '.' || part === '..') return `must not contain empty, "." or ".." parts`;
    if (!/^[A-Za-z0-9._-]+$/.test(part)) return `part ${JSON.stringify(part)} may only contain letters, digits, ".", "_" and "-"`;
  }
  return undefined;
}

export const RecoveryPlanSpecSchema = z.strictObject({
  source: z.strictObject({ cluster: dnsLabelName('cluster name').describe('Name of the ManagedCluster to read from.') }),
  destination: z.strictObject({ cluster: dnsLabelName('cluster name').describe('Name of the ManagedCluster to write to.') }),
  suspend: z.boolean().default(false).describe('Pause replication for this plan (capture, sync and reconcile).'),
  resources: z.strictObject({
    include: z.array(ResourceSelectorSchema).min(1, { error: 'must list at least one entry: a plan replicates only what it includes' }).max(100)
      .describe('What to replicate: an object is included when any entry selects it.'),
    exclude: z.array(ResourceSelectorSchema).max(100).default([]).describe('Exceptions: an object any entry selects is left out (on top of the default exclusions).'),
  }),
  transforms: z.array(TransformSchema).max(100).default([]).describe('Applied in order to every replicated object they select.'),
  deletes: z.strictObject({
    propagate: z.boolean().default(true).describe('Replicate deletions to the destination.'),
    guard: z.strictObject({
      maxPercent: z.number().min(0).max(100).default(20).describe("Hold deletes beyond this percentage of the plan's objects within the window."),
      minDeletes: z.number().int().min(0).default(10).describe('Fewer deletes than this within the window never trip maxPercent (small plans).'),
      window: duration().default('1m').describe('Sliding window for maxPercent.'),
      namespaces: z.boolean().default(true).describe('Hold every Namespace delete for approval.'),
    }).prefault({}).describe('The delete guard: a DR system must not faithfully replicate the disaster.'),
  }).prefault({}),
  secrets: SecretsSchema.prefault({}),
  mirror: z.strictObject({
    path: z.string().superRefine(problem(mirrorPathProblem, (text) => `invalid mirror path ${JSON.stringify(text)}:`)).optional()
      .describe("Directory of this plan in the mirror repository; the plan's name when absent."),
  }).prefault({}),
  sync: z.strictObject({
    commitInterval: duration().default('250ms').describe('How long the mirror gathers changes into one commit (shorter: less lag, more commits).'),
    maxBatch: z.number().int().min(1).max(10000).default(500).describe('Most objects in one commit.'),
    concurrency: z.number().int().min(1).max(256).default(8).describe('Parallel applies at the destination.'),
  }).prefault({}),
  reconcile: z.strictObject({
    interval: duration().default('5m').describe('How often source, mirror and destination are compared in full.'),
    drift: z.enum(['correct', 'detect']).default('correct').describe('correct: overwrite changes made at the destination; detect: only report them.'),
  }).prefault({}),
  recovery: z.strictObject({
    timeout: duration().default('15m').describe('How long a RecoveryExecutionJob may run before it fails.'),
    activate: z.strictObject({
      restoreReplicas: z.boolean().default(true).describe('Give workloads (and replicasPaths) their saved replica counts back.'),
      resumeSuspended: z.boolean().default(true).describe('Unsuspend CronJobs, Jobs and suspendPaths that were suspended by deactivate.'),
    }).prefault({}),
    hold: z.strictObject({
      admissionWebhooks: z.boolean().default(true)
        .describe('Keep Validating/MutatingWebhookConfigurations out of the sleeping stand-by (in lifeboat-system ConfigMaps) and apply them at activation, after their backends.'),
      apiServices: z.boolean().default(true).describe('Likewise for APIServices with a service (aggregated APIs).'),
      conversionWebhooks: z.boolean().default(true)
        .describe("Apply CRDs with a conversion webhook with conversion strategy None while the stand-by sleeps; activation gives the webhook back."),
    }).prefault({}).describe('What the sleeping stand-by holds back until activation, because its backends sleep.'),
    backendTimeout: duration().default('2m')
      .describe("How long activation waits for the held objects' Services to have ready endpoints before it applies them anyway."),
  }).prefault({}),
}).superRefine((spec, context) => {
  if (!isRecord(spec) || !isRecord(spec.source) || !isRecord(spec.destination)) return;
  const source = spec.source.cluster;
  if (typeof source === 'string' && source === spec.destination.cluster) {
    context.addIssue({ code: 'custom', path: ['destination', 'cluster'], message: `is the source cluster too ("${source}"): a plan copies one cluster to another` });
  }
}, always).meta({
  'x-kubernetes-validations': [{ rule: 'self.source.cluster != self.destination.cluster', message: 'source and destination must be different clusters' }],
}).describe('What to replicate from the source cluster to the destination cluster, and how.');

export const RecoveryPlanStatusSchema = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation this status describes.'),
  phase: z.enum(['Pending', 'Syncing', 'Synced', 'Degraded', 'Suspended', 'Activated']).optional().describe('Deprecated (API conventions): read the Ready condition.'),
  mirrorRevision: z.string().optional().describe('Last mirror commit.'),
  appliedRevision: z.string().optional().describe('Last mirror commit applied at the destination.'),
  lagSeconds: z.number().min(0).optional().describe('Seconds from a source change to its apply at the destination, in the last pass: the RPO right now.'),
  lastSyncTime: z.string().optional().describe('When the destination last received a new mirror revision.'),
  objects: z.number().int().min(0).optional().describe('Objects in the mirror.'),
  heldDeletes: z.number().int().min(0).optional().describe('Deletes held by the guard, waiting for approval.'),
  conditions,
});

export const RecoveryPlanSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(Kind.recoveryPlan),
  metadata: ObjectMetaSchema,
  spec: RecoveryPlanSpecSchema,
  status: RecoveryPlanStatusSchema.optional(),
}).transform((plan) => ({ ...plan, spec: { ...plan.spec, mirror: { ...plan.spec.mirror, path: plan.spec.mirror.path ?? plan.metadata.name } } }))
  .describe('What to replicate from one cluster to another, and how to wake the copy up.');

// ---------------------------------------------------------------------------------------------------------------
// RecoveryExecutionJob

export const RecoveryExecutionJobSpecSchema = z.strictObject({
  plan: dnsLabelName('plan name').describe('Name of the RecoveryPlan to recover.'),
  to: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, { error: 'must be a mirror revision: a commit SHA or a ref name' }).optional()
    .describe('First restore the destination to this mirror revision (commit SHA or ref).'),
  at: timestamp().optional().describe('First restore the destination to the last mirror revision at or before this RFC 3339 time.'),
  dryRun: z.boolean().default(false).describe('Report what would change, change nothing.'),
}).superRefine((spec, context) => {
  if (present(spec, 'to') && present(spec, 'at')) context.addIssue({ code: 'custom', path: ['at'], message: 'set either to (a revision) or at (a time), not both', params: { at: 'key' } });
}, always).meta({
  'x-kubernetes-validations': [{ rule: '!(has(self.to) && has(self.at))', message: 'set either to or at, not both' }],
}).describe('A request to activate the stand-by, optionally after a point-in-time restore.');

export const RecoveryExecutionJobStatusSchema = z.strictObject({
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed']).optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  revision: z.string().optional().describe('The mirror revision the destination was restored to.'),
  counts: z.record(z.string(), z.strictObject({
    restored: z.number().int().min(0).optional(),
    activated: z.number().int().min(0).optional(),
    unchanged: z.number().int().min(0).optional(),
    failed: z.number().int().min(0).optional(),
  })).optional().describe('Objects per kind (`apps/Deployment`) by result.'),
  failures: z.array(z.strictObject({
    kind: z.string(),
    namespace: z.string().optional(),
    name: z.string(),
    reason: z.string(),
    message: z.string().optional(),
  })).max(1000).optional().describe('Objects that could not be restored or activated, with the reason.'),
  recoverySeconds: z.number().min(0).optional().describe('Measured recovery time, from start to the last activated object.'),
  message: z.string().optional(),
  conditions,
});

export const RecoveryExecutionJobSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(Kind.recoveryExecutionJob),
  metadata: ObjectMetaSchema,
  spec: RecoveryExecutionJobSpecSchema,
  status: RecoveryExecutionJobStatusSchema.optional(),
}).describe('A request to recover: activate the stand-by, optionally restoring a mirror revision or time first.');

// ---------------------------------------------------------------------------------------------------------------
// Types

export type ManagedCluster = z.output<typeof ManagedClusterSchema>;
export type ManagedClusterInput = z.input<typeof ManagedClusterSchema>;
export type RecoveryPlan = z.output<typeof RecoveryPlanSchema>;
export type RecoveryPlanInput = z.input<typeof RecoveryPlanSchema>;
export type RecoveryPlanSpec = RecoveryPlan['spec'];
export type ResourceSelector = z.output<typeof ResourceSelectorSchema>;
export type Transform = z.output<typeof TransformSchema>;
export type JsonPatchOperation = z.output<typeof JsonPatchOperationSchema>;
export type RecoveryExecutionJob = z.output<typeof RecoveryExecutionJobSchema>;
export type RecoveryExecutionJobInput = z.input<typeof RecoveryExecutionJobSchema>;
export type LifeboatObject = ManagedCluster | RecoveryPlan | RecoveryExecutionJob;

/** The schema of each kind, for dispatch by `kind`. */
export const kindSchemas = {
  ManagedCluster: ManagedClusterSchema,
  RecoveryPlan: RecoveryPlanSchema,
  RecoveryExecutionJob: RecoveryExecutionJobSchema,
} as const;

/**
 * The plan with every default filled in; throws a ZodError for an invalid plan. The same as parsing: defaults are
 * part of the schema, so this is only a convenience for code that builds plans.
 */
export function withDefaults(plan: RecoveryPlanInput): RecoveryPlan {
  return RecoveryPlanSchema.parse(plan);
}
