// A ManagedCluster's status: a permission preflight with the cluster's own credentials. From the plans that name the
// cluster follow the accesses it must grant (a source: read what they select; a destination: the synchronizer's
// writes), asked one by one through SelfSubjectAccessReview; the answers become `Ready` (and `SourceWritable` when a
// source identity can write). The checks and the status are pure (accessChecks, clusterStatus); ClusterStatuses
// makes the requests, rechecks on change and every minute, and writes the status (one operator replica at a time).
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { apply, orThrow } from '../kube/apply.ts';
import { KubeClient, KubeError } from '../kube/client.ts';
import { type KubeObject, generationOf } from '../kube/ref.ts';
import { holdNamespace } from '../pipeline/hold.ts';
import { parseKindPattern, type KindPattern } from '../plan/parse.ts';
import { apiVersion, Kind, ManagedClusterSchema, RecoveryPlanSchema, resourceNames, type RecoveryPlan } from '../plan/schema.ts';
import { isClusterScoped } from '../plan/well-known-kinds.ts';
import { kubeConfigOf, type ClusterAccess } from '../runtime/plans.ts';
import { Leased } from '../runtime/runnable.ts';
import type { Lease } from '../state/state.ts';
import { mapLimit } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import type { Condition } from './conditions.ts';
import { clusterAccess, type Surroundings } from './resources.ts';

export const ClusterConditionType = { ready: 'Ready', sourceWritable: 'SourceWritable' } as const;

export const ClusterReason = {
  verified: 'Verified',
  permissionDenied: 'PermissionDenied',
  unreachable: 'Unreachable',
  clusterNotReadable: 'ClusterNotReadable',
  writePermitted: 'WritePermitted',
} as const;

/** One question for SelfSubjectAccessReview: may this identity `verb` the `resource` (cluster-wide without namespace)? */
export interface AccessCheck {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
}

export interface ClusterChecks {
  /** What the plans need: each one denied makes the cluster not Ready. */
  required: AccessCheck[];
  /** Writes a source identity should not have: each one allowed is named by SourceWritable. */
  writeProbes: AccessCheck[];
  /** What was checked, in a few words, for the Ready message. */
  summary: string;
}

const readVerbs = ['get', 'list', 'watch'] as const;
const writeVerbs = ['create', 'update', 'patch', 'delete'] as const;
/** What the synchronizer does at a destination: server-side apply (patch, create), prune (delete), compare (read). */
const destinationVerbs = ['get', 'list', 'watch', 'create', 'patch', 'delete'] as const;

type KindId = { group: string; kind: string };

/**
 * The kinds checked when a plan takes every (namespaced) kind: asking for each kind a source serves would need
 * discovery and hundreds of reviews a minute, so these stand for them: the core kinds the pipeline always handles
 * (src/pipeline/order.ts) and Secrets, the kind a read-only role most often leaves out on purpose.
 */
export const representativeKinds: readonly KindId[] = [
  { group: '', kind: 'ConfigMap' }, { group: '', kind: 'Secret' }, { group: '', kind: 'ServiceAccount' }, { group: '', kind: 'Service' },
  { group: '', kind: 'PersistentVolumeClaim' }, { group: 'apps', kind: 'Deployment' }, { group: 'apps', kind: 'StatefulSet' },
  { group: 'apps', kind: 'DaemonSet' }, { group: 'batch', kind: 'Job' }, { group: 'batch', kind: 'CronJob' },
  { group: 'rbac.authorization.k8s.io', kind: 'Role' }, { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding' },
  { group: 'networking.k8s.io', kind: 'Ingress' }, { group: 'autoscaling', kind: 'HorizontalPodAutoscaler' },
];

/** Kinds whose objects the stand-by holds in ConfigMaps of lifeboat-system while it sleeps (src/pipeline/hold.ts). */
const heldKinds = new Set(['admissionregistration.k8s.io/ValidatingWebhookConfiguration', 'admissionregistration.k8s.io/MutatingWebhookConfiguration', 'apiregistration.k8s.io/APIService']);

/** The REST resource of a kind, guessed as kubectl guesses it (exact for built-in kinds; CRDs rarely differ). */
export function resourceOfKind(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('s')) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/** `list secrets in namespace shop`, `watch namespaces cluster-wide`. */
export function describeCheck(check: AccessCheck): string {
  return `${check.verb} ${check.resource} ${check.namespace ? `in namespace ${check.namespace}` : 'cluster-wide'}`;
}

/** The kinds a plan selects: the named ones, or the representatives when it takes every kind (of a group). */
function selectedKinds(plan: RecoveryPlan): { kind: KindId; clusterScoped: boolean }[] {
  const found = new Map<string, { kind: KindId; clusterScoped: boolean }>();
  const add = (kind: KindId, clusterScoped: boolean) => found.set(`${kind.group}/${kind.kind}`, { kind, clusterScoped });
  for (const entry of plan.spec.resources.include) {
    const patterns: KindPattern[] = entry.kinds?.map(parseKindPattern) ?? [{ group: '*', kind: '*' }];
    for (const pattern of patterns) {
      if (pattern.kind !== '*') add(pattern, isClusterScoped(pattern) === true);
      else {
        const inGroup = representativeKinds.filter((kind) => pattern.group === '*' || kind.group === pattern.group);
        // A group none of the representatives is in (a CRD's group): every resource of it.
        if (inGroup.length === 0) add({ group: pattern.group, kind: '*' }, false);
        for (const kind of inGroup) add(kind, false);
      }
    }
  }
  return [...found.values()];
}

const isExactName = (glob: string) => !/[*?[\]{}]/.test(glob);

/** The namespaces a plan reads, or undefined when it reads every namespace (no list, a glob). */
function sourceNamespaces(plan: RecoveryPlan): string[] | undefined {
  const names = new Set<string>();
  for (const entry of plan.spec.resources.include) {
    if (!entry.namespaces || !entry.namespaces.every(isExactName)) return undefined;
    for (const name of entry.namespaces) names.add(name);
  }
  return [...names].sort();
}

/** Where a plan writes: its source namespaces through the namespaceMapping transforms (unmapped ones too, when a mapping is selective). */
function destinationNamespaces(plan: RecoveryPlan): string[] | undefined {
  const source = sourceNamespaces(plan);
  if (!source) return undefined;
  const mappings = plan.spec.transforms.filter((transform) => transform.namespaceMapping);
  const names = new Set<string>();
  for (const namespace of source) {
    const mapped = mappings.map((transform) => transform.namespaceMapping![namespace]).filter((name): name is string => name !== undefined);
    for (const name of mapped) names.add(name);
    if (mapped.length === 0 || mappings.some((transform) => transform.select)) names.add(namespace);
  }
  return [...names].sort();
}

function checksFor(kinds: { kind: KindId; clusterScoped: boolean }[], namespaces: string[] | undefined, verbs: readonly string[], listEverywhere: boolean): AccessCheck[] {
  const checks: AccessCheck[] = [];
  for (const { kind, clusterScoped } of kinds) {
    const base = { group: kind.group, resource: kind.kind === '*' ? '*' : resourceOfKind(kind.kind) };
    const scopes = clusterScoped || !namespaces ? [undefined] : namespaces;
    for (const namespace of scopes) for (const verb of verbs) checks.push({ verb, ...base, ...(namespace ? { namespace } : {}) });
    // The listener and the destination reconcile list and watch each kind across every namespace, however few a plan names.
    if (listEverywhere && !clusterScoped && namespaces) for (const verb of ['list', 'watch']) if (verbs.includes(verb)) checks.push({ verb, ...base });
  }
  return checks;
}

const checkKey = (check: AccessCheck) => `${check.verb} ${check.group} ${check.resource} ${check.namespace ?? ''}`;

function unique(checks: AccessCheck[]): AccessCheck[] {
  const seen = new Map<string, AccessCheck>();
  for (const check of checks) if (!seen.has(checkKey(check))) seen.set(checkKey(check), check);
  return [...seen.values()];
}

const namespaceObject: { kind: KindId; clusterScoped: boolean } = { kind: { group: '', kind: 'Namespace' }, clusterScoped: true };

/** What a cluster must allow for the plans that name it (as source, destination or both), and the writes to probe. */
export function accessChecks(cluster: string, plans: readonly RecoveryPlan[]): ClusterChecks {
  const asSource = plans.filter((plan) => plan.spec.source.cluster === cluster);
  const asDestination = plans.filter((plan) => plan.spec.destination.cluster === cluster);
  const required: AccessCheck[] = [];
  const writeProbes: AccessCheck[] = [];
  for (const plan of asSource) {
    // The Namespace objects come along with the namespaces a plan selects.
    const kinds = [...selectedKinds(plan), namespaceObject];
    required.push(...checksFor(kinds, sourceNamespaces(plan), readVerbs, true));
    writeProbes.push(...checksFor(kinds, sourceNamespaces(plan), writeVerbs, false));
  }
  for (const plan of asDestination) {
    const kinds = [...selectedKinds(plan), namespaceObject];
    required.push(...checksFor(kinds, destinationNamespaces(plan), destinationVerbs, true));
    const { hold } = plan.spec.recovery;
    const holds = kinds.some(({ kind }) => heldKinds.has(`${kind.group}/${kind.kind}`) && (kind.kind === 'APIService' ? hold.apiServices : hold.admissionWebhooks));
    if (holds) required.push(...destinationVerbs.map((verb) => ({ verb, group: '', resource: 'configmaps', namespace: holdNamespace })));
  }
  const roles = [asSource.length ? `source of ${asSource.length} plan${asSource.length === 1 ? '' : 's'}` : '', asDestination.length ? `destination of ${asDestination.length} plan${asDestination.length === 1 ? '' : 's'}` : ''].filter(Boolean);
  const checks = unique(required);
  const summary = roles.length ? `${roles.join(' and ')}: ${checks.length} permission${checks.length === 1 ? '' : 's'} checked` : 'no plan uses this cluster; no permissions checked';
  // A cluster that is a destination too must write: the warning is for read-only roles only.
  return { required: checks, writeProbes: asDestination.length ? [] : unique(writeProbes), summary };
}

export interface ManagedClusterStatus {
  reachable?: boolean;
  serverVersion?: string;
  lastCheckTime?: string;
  message?: string;
  conditions: Condition[];
}

/** What one check of a cluster found. */
export type ClusterObservation =
  /** Its kubeconfig cannot be had (a Secret or key missing): the message says which. */
  | { type: 'unreadable'; generation: number; message: string }
  | { type: 'unreachable'; generation: number; error: string }
  | { type: 'checked'; generation: number; serverVersion: string; summary: string; denied: AccessCheck[]; writable: AccessCheck[] };

/** Messages stay readable in `kubectl describe` and under the API's limits: the first ones, then how many more. */
export const maxMessageLength = 1000;

export function joinCapped(parts: readonly string[], max = maxMessageLength): string {
  let text = '';
  for (const [index, part] of parts.entries()) {
    const next = text ? `${text}; ${part}` : part;
    const rest = parts.length - index - 1;
    const suffix = rest ? ` (and ${rest} more)` : '';
    if (next.length + suffix.length > max) return `${text} (and ${parts.length - index} more)`;
    text = next;
  }
  return text;
}

type ConditionContent = Pick<Condition, 'status' | 'reason' | 'message'>;

function readyOf(observation: ClusterObservation): ConditionContent {
  switch (observation.type) {
    case 'unreadable': return { status: 'False', reason: ClusterReason.clusterNotReadable, message: observation.message };
    case 'unreachable': return { status: 'False', reason: ClusterReason.unreachable, message: `cannot reach the cluster: ${observation.error}` };
    case 'checked':
      if (observation.denied.length) return { status: 'False', reason: ClusterReason.permissionDenied, message: joinCapped(observation.denied.map((check) => `cannot ${describeCheck(check)}`)) };
      return { status: 'True', reason: ClusterReason.verified, message: `reachable (Kubernetes ${observation.serverVersion}); ${observation.summary}, all allowed` };
    default: {
      const unknown: never = observation;
      throw new Error(`unknown observation ${JSON.stringify(unknown)}`);
    }
  }
}

function condition(type: string, content: ConditionContent, generation: number, previous: readonly Condition[], now: string): Condition {
  const before = previous.find((entry) => entry.type === type);
  const lastTransitionTime = before && before.status === content.status ? before.lastTransitionTime : now;
  return { type, ...content, lastTransitionTime, observedGeneration: generation };
}

/** The status for an observation; `previous` keeps transition times. SourceWritable appears only while True. */
export function clusterStatus(observation: ClusterObservation, previous: Partial<ManagedClusterStatus> | undefined, now: string): ManagedClusterStatus {
  const before = previous?.conditions ?? [];
  const ready = readyOf(observation);
  const conditions = [condition(ClusterConditionType.ready, ready, observation.generation, before, now)];
  if (observation.type === 'checked' && observation.writable.length) {
    const writes = joinCapped(observation.writable.map((check) => `can ${describeCheck(check)}`), maxMessageLength - 60);
    conditions.push(condition(ClusterConditionType.sourceWritable, { status: 'True', reason: ClusterReason.writePermitted, message: `${writes}; least privilege is a read-only identity on the source` }, observation.generation, before, now));
  }
  return {
    ...(observation.type === 'unreadable' ? {} : { reachable: observation.type === 'checked' }),
    ...(observation.type === 'checked' ? { serverVersion: observation.serverVersion } : {}),
    lastCheckTime: now,
    message: ready.message,
    conditions,
  };
}

/** Whether a new status says something the old one does not (lastCheckTime alone is no change). */
export function statusChanged(previous: Partial<ManagedClusterStatus> | undefined, next: ManagedClusterStatus): boolean {
  const { lastCheckTime: _before, ...rest } = previous ?? {};
  const { lastCheckTime: _after, ...nextRest } = next;
  return !isDeepStrictEqual(rest, nextRest);
}

// ---------------------------------------------------------------------------------------------------------------
// The requests

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

/** One SelfSubjectAccessReview: true when allowed. */
async function allowed(client: KubeClient, check: AccessCheck): Promise<boolean> {
  const review = await client.request<AccessReview>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb: check.verb, group: check.group, resource: check.resource, ...(check.namespace ? { namespace: check.namespace } : {}) } },
  }, { retry: false, timeoutMs: 10_000 });
  return review.status?.allowed === true;
}

/** Checks a cluster with its own credentials: reachable (GET /version), then every check and write probe. */
export async function observeCluster(access: ClusterAccess, checks: ClusterChecks, generation: number): Promise<ClusterObservation> {
  let client: KubeClient;
  try {
    client = await KubeClient.create(kubeConfigOf(access), { maxSockets: 4 });
  } catch (error) {
    return { type: 'unreadable', generation, message: `the kubeconfig of ${access.kubeconfig} cannot be used: ${(error as Error).message}` };
  }
  try {
    let serverVersion: string;
    try {
      serverVersion = (await client.request<{ gitVersion?: string }>('GET', '/version', undefined, { retry: false, timeoutMs: 5000 })).gitVersion ?? 'unknown';
    } catch (error) {
      const reason = error instanceof KubeError && error.code === 401 ? `credentials rejected (401 Unauthorized): ${error.message}` : (error as Error).message;
      return { type: 'unreachable', generation, error: reason };
    }
    const answers = await mapLimit([...checks.required, ...checks.writeProbes], 4, (check) => allowed(client, check));
    const required = answers.slice(0, checks.required.length);
    const probes = answers.slice(checks.required.length);
    return {
      type: 'checked', generation, serverVersion, summary: checks.summary,
      denied: checks.required.filter((_, index) => !required[index]),
      writable: checks.writeProbes.filter((_, index) => probes[index]),
    };
  } catch (error) {
    return { type: 'unreachable', generation, error: (error as Error).message };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ClusterStatuses: what the operator runs

export interface ClusterStatusesOptions {
  client: KubeClient;
  namespace: string;
  log: Logger;
  fieldManager: string;
  /** Held while writing statuses, so that of two replicas one writes them; without one this process always writes. */
  lease?: Lease;
  /** How often every cluster is checked again, changed or not (default 60 s). */
  intervalMs?: number;
}

/** The operator's objects a check is derived from (its informers' contents). */
export interface ClusterInputs {
  clusters: Iterable<KubeObject>;
  plans: Iterable<KubeObject>;
  surroundings: Surroundings;
}

interface Planned {
  object: KubeObject;
  generation: number;
  access: ClusterAccess | { error: string };
  checks: ClusterChecks;
  /** Changes exactly when the check must be made again: spec, generation, credentials, checks. */
  key: string;
}


/** A resource parsed with its defaults, or undefined when it is invalid (its plan's status says why). */
function parsed<T>(schema: { safeParse: (value: unknown) => { success: true; data: T } | { success: false } }, object: KubeObject): T | undefined {
  const result = schema.safeParse({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata.name }, spec: (object as { spec?: unknown }).spec });
  return result.success ? result.data : undefined;
}

/** The checks of every ManagedCluster now, by name. */
export function planChecks({ clusters, plans, surroundings }: ClusterInputs): Map<string, Planned> {
  const valid = [...plans].flatMap((object) => parsed(RecoveryPlanSchema, object) ?? []);
  const result = new Map<string, Planned>();
  for (const object of clusters) {
    const name = object.metadata.name ?? '';
    const cluster = parsed(ManagedClusterSchema, object);
    const access = cluster ? clusterAccess(cluster, surroundings) : { error: `ManagedCluster ${name}: invalid spec` };
    const checks = accessChecks(name, valid);
    const credentials = 'error' in access ? access.error : createHash('sha256').update(JSON.stringify(access)).digest('hex');
    result.set(name, { object, generation: generationOf(object), access, checks, key: JSON.stringify({ generation: generationOf(object), credentials, checks }) });
  }
  return result;
}

/** Checks each ManagedCluster on change and every `intervalMs`, and writes its status where it changed. */
export class ClusterStatuses {
  private readonly options: ClusterStatusesOptions;
  private readonly log: Logger;
  private planned = new Map<string, Planned>();
  /** The key each cluster was last checked with, and when. */
  private readonly checked = new Map<string, { key: string; at: number }>();
  private readonly leased: Leased | undefined;
  private writer = false;
  private stopped = true;
  private ticker: NodeJS.Timeout | undefined;
  private pass: Promise<void> = Promise.resolve();
  private passDue = false;

  constructor(options: ClusterStatusesOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'cluster-status' });
    const inner = {
      name: 'cluster-status',
      start: async () => {
        this.writer = true;
        this.checked.clear(); // another replica may have written meanwhile: check everything again
        this.schedule();
      },
      stop: async () => {
        this.writer = false;
        await this.pass;
      },
      readiness: () => ({ ready: true as const }),
    };
    if (options.lease) this.leased = new Leased(inner, { lease: options.lease, retryMs: 5000, log: this.log });
    else this.writer = true;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.ticker = setInterval(() => this.schedule(), Math.min(this.options.intervalMs ?? 60_000, 5000));
    await this.leased?.start(new AbortController().signal);
    this.schedule();
  }

  /** The operator's objects after a pass: clusters whose checks changed are checked again soon. */
  update(inputs: ClusterInputs): void {
    this.planned = planChecks(inputs);
    for (const name of [...this.checked.keys()]) if (!this.planned.has(name)) this.checked.delete(name);
    this.schedule();
  }

  /** One pass at a time; a pass asked for while one runs follows it. */
  private schedule(): void {
    if (this.stopped || !this.writer) return;
    if (this.passDue) return;
    this.passDue = true;
    this.pass = this.pass.then(() => {
      this.passDue = false;
      return this.checkDue();
    }).catch((error: Error) => this.log.warn({ err: error.message }, 'cluster status pass failed; retrying'));
  }

  private async checkDue(): Promise<void> {
    const intervalMs = this.options.intervalMs ?? 60_000;
    const due = [...this.planned.entries()].filter(([name, planned]) => {
      const last = this.checked.get(name);
      return !last || last.key !== planned.key || Date.now() - last.at >= intervalMs;
    });
    await mapLimit(due, 4, async ([name, planned]) => {
      if (this.stopped || !this.writer) return;
      await this.check(name, planned).catch((error: Error) => this.log.warn({ cluster: name, err: error.message }, 'cannot write the cluster status; retrying'));
    });
  }

  private async check(name: string, planned: Planned): Promise<void> {
    const observation: ClusterObservation = 'error' in planned.access
      ? { type: 'unreadable', generation: planned.generation, message: planned.access.error }
      : await observeCluster(planned.access, planned.checks, planned.generation);
    this.checked.set(name, { key: planned.key, at: Date.now() });
    const previous = (planned.object as { status?: Partial<ManagedClusterStatus> }).status;
    const next = clusterStatus(observation, previous, new Date().toISOString());
    // On change only; and, so that a reader sees the checks go on, when the last check time shown is 10 intervals old.
    const shownAt = Date.parse(previous?.lastCheckTime ?? '') || 0;
    if (!statusChanged(previous, next) && Date.now() - shownAt < 10 * (this.options.intervalMs ?? 60_000)) return;
    if (!this.writer || this.stopped) return;
    const ready = next.conditions[0]!;
    this.log.info({ cluster: name, ready: ready.status, reason: ready.reason, message: ready.message }, 'cluster status');
    const { client, namespace, fieldManager } = this.options;
    const body = { apiVersion, kind: Kind.managedCluster, metadata: { name, namespace }, status: next };
    try {
      orThrow(await apply(client, `/apis/${apiVersion}/namespaces/${namespace}/${resourceNames[Kind.managedCluster].plural}/${name}/status`, body as unknown as KubeObject, { fieldManager }));
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return; // deleted meanwhile
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    await this.leased?.stop();
    await this.pass;
  }
}
