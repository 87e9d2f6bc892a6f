// The one source of truth for lifeboat's kinds (API group lifeboat.dev/v1alpha1): zod schemas from which the
// TypeScript types, the editor JSON Schemas and the CRDs are all derived (hack/gen-schemas.ts). Defaults live here
// and only here, as zod defaults, so a parsed plan is always complete. Checks that need one object only (formats,
// "exactly one of") live here too; checks across objects live in validate.ts.
import { z } from 'zod';
import { qualifiedNameProblem } from './parse.ts';
import { ageRecipient, always, checkMapKeys, dnsLabelName, dnsSubdomainName, duration, isRecord, present, problem, stringMap } from './schema-formats.ts';
import { JsonPatchOperationSchema, ResourceSelectorSchema, TransformSchema } from './transform-schema.ts';

export { ageRecipientProblem, imagePrefixProblem, normalizeImagePrefix, reservedPrefix } from './schema-formats.ts';
export { JsonPatchOperationSchema, ResourceSelectorSchema, TransformSchema, transformActions } from './transform-schema.ts';
export type { TransformAction } from './transform-schema.ts';

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
  inCluster: z.literal(true, { error: 'must be true (leave it out otherwise)' }).optional()
    .describe("The cluster the operator runs in, reached with the operator's own identity (operator mode; what a stand-by's operator uses for its own cluster)."),
}).superRefine((spec, context) => {
  const set = (['kubeconfig', 'secretRef', 'inCluster'] as const).filter((key) => present(spec, key));
  if (set.length > 1) context.addIssue({ code: 'custom', path: [set[1]!], message: `set one of kubeconfig, secretRef or inCluster, not ${set.join(' and ')}`, params: { at: 'key' } });
  if (set.length === 0) context.addIssue({ code: 'custom', path: [], message: 'set one of kubeconfig (a file and context), secretRef (a Secret holding a kubeconfig) or inCluster: true (the operator\'s own cluster)' });
}, always).meta({
  'x-kubernetes-validations': [{ rule: '[has(self.kubeconfig), has(self.secretRef), has(self.inCluster)].filter(x, x).size() == 1', message: 'set exactly one of kubeconfig, secretRef or inCluster' }],
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
  lagSeconds: z.number().min(0).optional().describe('The RPO right now: seconds since the source time of the oldest change not yet applied at the destination; 0 when caught up.'),
  lastSyncTime: z.string().optional().describe('When the destination last received a new mirror revision.'),
  initialSyncTime: z.string().optional().describe('When the plan was first Ready: its initial sync done (the InitialSyncDone Event). Kept from then on.'),
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
  claimedBy: z.string().optional().describe('Who runs the job: the operator replica (host/pid) that claimed it, or the lifeboat recover command.'),
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

