// `lifeboat run`: the composition root. Connects NATS, Redis and the mirror, follows the plans source, and runs for
// every plan its listener, processor, mirror writer (one per plan across processes: a Redis lease) and synchronizer.
// Stages only talk through JetStream, so each could run in its own process; here they share one.
import fs from 'node:fs';
import path from 'node:path';
import { Bus, type Subscription } from '../bus/bus.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../kube/client.ts';
import type { ApiResource } from '../kube/discovery.ts';
import { refFromMirrorPath, type KubeObject } from '../kube/ref.ts';
import { type Metrics } from '../metrics/metrics.ts';
import { parseTrailers, type MirrorPusher, type MirrorRepository } from '../mirror/repository.ts';
import { hasErrors, loadPlans, resolveKubeconfigPath, originKey, type PlanError } from '../plan/load.ts';
import { parseDuration } from '../plan/duration.ts';
import type { ManagedCluster, RecoveryPlan } from '../plan/schema.ts';
import { createPlanSource, parsePlanSource, type PlanSnapshot } from '../plan/source.ts';
import { PlanWatcher, type PlanChangeSet } from '../plan/watcher.ts';
import type { Lease, StateStore } from '../state/state.ts';
import { stringifyJson } from '../util/json.ts';
import type { Logger } from '../util/log.ts';
import { defaultExclusion } from './exclusions.ts';
import { Listener, type BuiltEvent } from './listener.ts';
import { candidateOf, type KubeObject as TransformObject } from './transforms.ts';
import { isCommitMessage, objectMessagesOf, objectsNamedBy, serializeBatches, sourceEventsOf, type CommitMessage, type ObjectMessage, type SourceEvent } from './messages.ts';
import { MirrorWriter, sharedAck, type Acknowledgeable } from './mirror-writer.ts';
import { Reconciler, type ReconcileReport } from './reconciler.ts';
import { compilePlan, processEvent } from './processor.ts';
import { loadHashKey } from './hash-key.ts';
import { encryptSecret, SecretEncryptionError } from './secrets.ts';
import { FailureStage, ObjectFailures, objectName, type ObjectFailure, type Stall } from './failures.ts';
import { Synchronizer } from './synchronizer.ts';
import { nextTurn, sleep } from '../util/limit.ts';

/**
 * Largest batch message between stages. Objects listed or watched together travel as one JetStream message (one
 * publish and ack instead of hundreds); never over what the server accepts (its max_payload, 1 MiB by default),
 * so only an object that is itself larger travels by reference (see Bus.publishSerialized).
 */
const maxBatchBytes = 256 * 1024;
/** Dead letters kept per plan for its status (lastErrors). */
const keptDeadLetters = 20;
/** Objects the synchronizer may have queued before an initial list waits for it (about 3 s of applies). */
const paceBacklog = 1500;
/** Failing objects named in a plan's status (all of them are counted). */
const shownFailures = 20;
/**
 * How long a watch may keep failing before the plan counts as stalled (status, /readyz, lifeboat_stalled): longer
 * than a NATS or API server restart takes, and than two of the listener's reconnects at its longest backoff.
 */
const watchStallMs = 60_000;
/** Annotations only lifeboat writes on a Secret: their values decide what the stand-by decrypts. */
const encryptionAnnotations = ['lifeboat.dev/encrypted-data', 'lifeboat.dev/data-hash', 'lifeboat.dev/encrypted-to'];

/**
 * A source Secret carrying lifeboat's encryption annotations is refused, never passed on: its ciphertext would be
 * decrypted into the stand-by, so anyone able to write a source Secret could choose what the stand-by gets (another
 * Secret's data moved under this name, an old value replayed). It is reported and skipped until the annotations go.
 */
function refuseForeignCiphertext(secret: KubeObject): void {
  const carried = encryptionAnnotations.filter((key) => secret.metadata.annotations?.[key] !== undefined);
  if (carried.length) throw new SecretEncryptionError(`the source Secret carries ${carried.join(', ')}, which only lifeboat writes (copied from a mirror or a stand-by?); remove ${carried.length > 1 ? 'them' : 'it'} in the source to replicate it`);
}

/**
 * True when NATS or JetStream refused this message (over max_payload, over a stream's limits), as opposed to being
 * unreachable: trying it again cannot help, so the listener skips the objects it carries instead of waiting.
 */
export function refusedByBus(error: Error): boolean {
  return error.name === 'InvalidArgumentError' || error.name === 'JetStreamApiError';
}

export interface ClusterAccess {
  name: string;
  kubeconfig: string;
  context: string | undefined;
}

export interface PlanContext {
  plan: RecoveryPlan;
  /** How to reach each cluster, or why the plan cannot run from here (it then fails alone). */
  source: ClusterAccess | { error: string };
  destination: ClusterAccess | { error: string };
}

export interface RuntimeOptions {
  plans: string;
  mirror: MirrorRepository;
  bus: Bus;
  state: StateStore;
  metrics: Metrics;
  log: Logger;
  identities: string[];
  planPollMs?: number;
  /** Pushes the mirror to its HTTP(S) remote after each commit, when configured. */
  pusher?: MirrorPusher;
}

export interface PlanStatus {
  plan: string;
  planRevision: string | undefined;
  mirrorHead: string | undefined;
  appliedHead: string | undefined;
  objectsByKind: Record<string, number>;
  lagSeconds: number | undefined;
  mirrorWriter: boolean;
  kinds: string[];
  initialSync: 'listing' | 'done';
  lastErrors: { path: string; reason: string; attempts: number; at: string }[];
  /** Objects a stage skipped (named, stage, reason, since, count), newest first; `failingObjects` counts them all. */
  failing: ObjectFailure[];
  failingObjects: number;
  /** Components that cannot make progress for any object: a mirror not writable, a watch failing for a minute. */
  stalls: Stall[];
  heldDeletes: number;
  /** Objects whose capture is paused after a rollback or revert. */
  paused: number;
  /** The RecoveryExecutionJob that failed this plan over (its stand-by is no longer synchronized). */
  failedOver: string | undefined;
  reconcile: ReconcileSummary | undefined;
  /** The cluster that did not answer when the plan last tried to start (the plan keeps trying), and since when. */
  unreachable: Unreachable | undefined;
  updatedAt: string;
}

export interface Unreachable {
  cluster: string;
  role: 'source' | 'destination';
  /** RFC 3339: the first failed try of this outage. */
  since: string;
  error: string;
}

/** A plan's cluster that did not answer its probe. */
export class ClusterUnreachableError extends Error {
  readonly cluster: string;
  readonly role: 'source' | 'destination';
  readonly access: ClusterAccess;
  readonly reason: string;
  constructor(access: ClusterAccess, role: 'source' | 'destination', reason: string) {
    super(`${role} cluster ${access.name} does not answer: ${reason}`);
    this.name = 'ClusterUnreachableError';
    this.cluster = access.name;
    this.role = role;
    this.access = access;
    this.reason = reason;
  }
}

/** One GET /version, no retries, 5 s at most: does the cluster answer at all? */
async function probeCluster(client: KubeClient, access: ClusterAccess, role: 'source' | 'destination'): Promise<void> {
  try {
    await client.request('GET', '/version', undefined, { retry: false, timeoutMs: 5000 });
  } catch (error) {
    // An answer, even 401/403, means the cluster is there: the real requests then say what is wrong.
    if (error instanceof KubeError && error.code > 0 && error.code < 500) return;
    throw new ClusterUnreachableError(access, role, (error as Error).message);
  }
}

export interface ReconcileSummary {
  at: string;
  error?: string;
  sourceChanged: number;
  sourceDeleted: number;
  drift: 'correct' | 'detect';
  drifted: { object: string; fields: string[] }[];
  missing: number;
  orphaned: number;
  corrected: number;
}

function summarize(report: ReconcileReport, drift: 'correct' | 'detect'): ReconcileSummary {
  const source = 'error' in report.source ? undefined : report.source;
  const destination = 'error' in report.destination ? undefined : report.destination;
  const error = ['error' in report.source ? `source: ${report.source.error}` : '', 'error' in report.destination ? `destination: ${report.destination.error}` : ''].filter(Boolean).join('; ');
  return {
    at: report.at, ...(error ? { error } : {}), drift,
    sourceChanged: source?.changed.length ?? 0, sourceDeleted: source?.deleted.length ?? 0,
    drifted: destination?.drifted.slice(0, 20) ?? [], missing: destination?.missing.length ?? 0, orphaned: destination?.orphaned.length ?? 0, corrected: destination?.corrected ?? 0,
  };
}

function clusterAccess(cluster: ManagedCluster, definedIn: string): ClusterAccess | { error: string } {
  if (!cluster.spec.kubeconfig) return { error: `ManagedCluster ${cluster.metadata.name} uses a secretRef, which only the in-cluster operator can read; give lifeboat run a kubeconfig path` };
  return { name: cluster.metadata.name, kubeconfig: resolveKubeconfigPath(definedIn, cluster.spec.kubeconfig.path), context: cluster.spec.kubeconfig.context };
}

function access(cluster: ClusterAccess | { error: string }): ClusterAccess {
  if ('error' in cluster) throw new Error(cluster.error);
  return cluster;
}

/** Plans of a snapshot with their clusters resolved; any error makes the whole revision invalid. */
export function evaluatePlans(snapshot: PlanSnapshot, baseDir: string): { plans: Map<string, PlanContext>; errors: PlanError[] } {
  const files = snapshot.files.map((file) => ({ ...file, path: path.isAbsolute(file.path) ? file.path : path.join(baseDir, file.path) }));
  const set = loadPlans(files);
  const errors = set.errors.filter((error) => error.severity === 'error');
  const plans = new Map<string, PlanContext>();
  if (hasErrors(set)) return { plans, errors };
  for (const [name, plan] of set.plans) {
    const cluster = (clusterName: string) => {
      const definition = set.clusters.get(clusterName)!;
      return clusterAccess(definition, set.origins.get(originKey('ManagedCluster', clusterName))?.file ?? baseDir);
    };
    plans.set(name, { plan, source: cluster(plan.spec.source.cluster), destination: cluster(plan.spec.destination.cluster) });
  }
  return { plans, errors };
}

/**
 * When a revision reached the destination, for `lifeboat history` (the newest 10,000). The first time only (NX): a
 * later pass that finds the same head (a retry of failed objects, every 15 s and more) must not move it.
 */
export async function recordApplied(state: StateStore, plan: string, revision: string, at = Date.now()): Promise<void> {
  await state.redis.multi().zadd(state.key(plan, 'applied-at'), 'NX', at, revision).zremrangebyrank(state.key(plan, 'applied-at'), 0, -10_001).exec();
}

/** The Secret hash key (hash-key.ts), moving one an earlier version kept in Redis out of it. */
async function hashKey(state: StateStore, mirrorGitdir: string, log: Logger): Promise<string> {
  const legacyKey = 'lifeboat:hash-key';
  const loaded = await loadHashKey({
    env: process.env, mirrorGitdir,
    legacy: { read: async () => (await state.redis.get(legacyKey)) ?? undefined, remove: async () => void (await state.redis.del(legacyKey)) },
  });
  if (loaded.movedFromRedis) log.warn({ file: loaded.source }, 'moved the Secret hash key out of Redis into this file; several lifeboat processes must share one key: give each the same $LIFEBOAT_HASH_KEY_FILE');
  return loaded.key;
}

export class Runtime {
  private readonly options: RuntimeOptions;
  private watcher: PlanWatcher<PlanContext, PlanError> | undefined;
  readonly runners = new Map<string, PlanRunner>();
  private planRevision: string | undefined;
  private key = '';
  private stopping = false;
  /** True while a plans revision is being applied: its plans may have no runner yet, so nothing is ready. */
  private applying = false;

  constructor(options: RuntimeOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    this.key = await hashKey(this.options.state, this.options.mirror.gitdir, this.options.log);
    const spec = parsePlanSource(this.options.plans);
    const source = createPlanSource(spec);
    // Plan file paths are relative to the working directory (a tree) or to the repository root (git sources).
    const baseDir = process.cwd();
    const log = this.options.log.child({ component: 'plans' });
    this.watcher = new PlanWatcher<PlanContext, PlanError>({
      source, intervalMs: this.options.planPollMs ?? 10_000,
      evaluate: (snapshot) => evaluatePlans(snapshot, baseDir),
      onChange: (changes) => this.apply(changes),
      onInvalid: (revision, errors) => {
        this.options.metrics.planErrors.set(errors.length);
        log.error({ revision, errors: errors.map((error) => `${error.file}:${error.line}:${error.column}: ${error.message}`) }, 'plans revision is invalid; running plans are unchanged');
        this.options.state.redis.set('lifeboat:_plans:status', JSON.stringify({ source: source.description, latestRevision: revision, appliedRevision: this.planRevision, errors }))
          .catch((error: Error) => log.warn({ err: error.message }, 'cannot record the plans status in Redis'));
      },
      onPollError: (error) => log.warn({ err: error.message }, 'cannot read plans; retrying'),
    });
    const pusher = this.options.pusher;
    if (pusher) {
      // A person pushed commits to the mirror's remote (a `git revert`): they are applied like lifeboat's own, and
      // capture of the objects they changed pauses until `lifeboat resume`, so the next source event does not undo them.
      pusher.onRemoteCommits = async (from, to) => {
        for (const runner of this.runners.values()) await runner.remoteCommits(from, to);
      };
      pusher.start(Math.min(this.options.planPollMs ?? 10_000, 10_000));
    }
    await this.watcher.poll();
    const status = this.watcher.status();
    if (!status.appliedRevision && status.lastPollError) throw new Error(`cannot read plans from ${source.description}: ${status.lastPollError}`);
    this.watcher.start();
  }

  private async apply(changes: PlanChangeSet<PlanContext>): Promise<void> {
    this.applying = true;
    try {
      await this.applyChanges(changes);
    } finally {
      this.applying = false;
    }
  }

  private async applyChanges(changes: PlanChangeSet<PlanContext>): Promise<void> {
    this.planRevision = changes.revision;
    this.options.metrics.planErrors.set(0);
    await this.options.state.redis.set('lifeboat:_plans:status', JSON.stringify({ appliedRevision: changes.revision, latestRevision: changes.revision, errors: [] }));
    const log = this.options.log.child({ component: 'plans' });
    log.info({ revision: changes.revision, added: changes.added.map((c) => c.plan.metadata.name), changed: changes.changed.map((c) => c.plan.metadata.name), removed: changes.removed }, 'plans changed');
    for (const name of [...changes.removed, ...changes.changed.map((c) => c.plan.metadata.name)]) {
      await this.runners.get(name)?.stop();
      this.runners.delete(name);
    }
    for (const context of [...changes.added, ...changes.changed]) this.launch(context, 1, undefined);
  }

  /**
   * Starts one plan's runner. A plan failing to start (a cluster refusing connections, a Redis hiccup) never stops
   * the others, and keeps trying forever: backoff from 1 s to 30 s between tries, while a cheap probe (GET /version,
   * every 2 s) of the cluster that did not answer starts the next try as soon as it does.
   */
  private launch(context: PlanContext, attempt: number, unreachable: Unreachable | undefined): void {
    const name = context.plan.metadata.name;
    const runner = new PlanRunner(context, this.options, () => this.planRevision, this.key);
    runner.unreachable = unreachable;
    this.runners.set(name, runner);
    runner.start().then(() => undefined, async (error: Error) => {
      const current = () => this.runners.get(name) === runner && !this.stopping;
      if (!current()) return;
      const log = this.options.log.child({ plan: name });
      const cluster = error instanceof ClusterUnreachableError ? error : undefined;
      if (cluster) {
        runner.unreachable = { cluster: cluster.cluster, role: cluster.role, since: runner.unreachable?.cluster === cluster.cluster ? runner.unreachable.since : new Date().toISOString(), error: cluster.reason };
      }
      const waitMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5)) * (0.8 + Math.random() * 0.2);
      log.error({ err: error.message, attempt, retryInSeconds: Math.round(waitMs / 1000), ...(runner.unreachable ? { unreachableSince: runner.unreachable.since } : {}) }, 'plan failed to start; retrying');
      await runner.stop();
      await runner.publishStatus().catch(() => undefined);
      const until = Date.now() + waitMs;
      const prober = cluster && await KubeClient.create(loadKubeConfig({ path: cluster.access.kubeconfig, context: cluster.access.context }), { maxSockets: 1 });
      try {
        while (current() && Date.now() < until) {
          await sleep(Math.min(2000, until - Date.now()));
          if (prober && current() && (await probeCluster(prober, cluster.access, cluster.role).then(() => true, () => false))) break;
          await runner.publishStatus().catch(() => undefined);
        }
      } finally {
        prober?.close();
      }
      if (current()) this.launch(context, attempt + 1, runner.unreachable);
    }).catch((error: Error) => this.options.log.error({ plan: name, err: error.message }, 'plan could not be restarted; it stays stopped until the plans change'));
  }

  /** Per plan, why it is not ready (for /readyz): a cluster that does not answer, or the initial sync. */
  readiness(): { ready: boolean; reasons: string[] } {
    if (this.watcher?.status().appliedRevision === undefined) return { ready: false, reasons: ['plans not loaded yet'] };
    if (this.applying) return { ready: false, reasons: [`plans revision ${this.planRevision ?? ''} being applied`] };
    const reasons = [...this.runners.values()].filter((runner) => !runner.ready).map((runner) => runner.notReadyReason());
    return { ready: reasons.length === 0, reasons };
  }

  /** True when /readyz answers 200: every plan finished its initial sync and none is stalled. */
  ready(): boolean {
    return this.readiness().ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.options.pusher?.stop();
    await this.watcher?.stop();
    await Promise.all([...this.runners.values()].map((runner) => runner.stop()));
  }
}

export class PlanRunner {
  readonly context: PlanContext;
  private readonly options: RuntimeOptions;
  private readonly planRevision: () => string | undefined;
  private readonly hashKey: string;
  private readonly log: Logger;
  private readonly name: string;
  private listener: Listener | undefined;
  private subscriptions: Subscription[] = [];
  private mirrorSubscription: Subscription | undefined;
  private writer: MirrorWriter | undefined;
  private synchronizer: Synchronizer | undefined;
  private clients: KubeClient[] = [];
  private leases: Lease[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private listed = false;
  private synced = false;
  private lastLagSeconds: number | undefined;
  private reconciler: Reconciler | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private lastReconcile: ReconcileReport | undefined;
  private reconciledOnce = false;
  /** A synchronizer pass, when this process holds (or can take) the plan's synchronizer lease. */
  private syncNow: (() => Promise<void>) | undefined;
  /** Takes a commit of this process's mirror writer straight to the synchronizer (when this process synchronizes). */
  private handOver: ((message: CommitMessage) => void) | undefined;
  private readonly progress = { eventsPublished: 0, eventsProcessed: 0, objectsPublished: 0 };
  private counted: { head: string | undefined; at: number; objectsByKind: Record<string, number> } = { head: undefined, at: 0, objectsByKind: {} };
  /** Messages given up on by this process, newest first, shown in status with the apply failures. */
  private deadLetters: PlanStatus['lastErrors'] = [];
  /** Objects the listener or processor skipped, cleared when they go through or are deleted. */
  private readonly failures: ObjectFailures;
  /** The cluster that did not answer when this plan last tried to start, and since when. */
  unreachable: Unreachable | undefined;

  constructor(context: PlanContext, options: RuntimeOptions, planRevision: () => string | undefined, hashKey: string) {
    this.context = context;
    this.options = options;
    this.planRevision = planRevision;
    this.hashKey = hashKey;
    this.name = context.plan.metadata.name;
    this.log = options.log.child({ plan: this.name });
    this.failures = new ObjectFailures((stage, failing) => options.metrics.failingObjects.set({ plan: this.name, stage }, failing));
  }

  /** Listed, caught up, reconciled once (deletes missed while lifeboat was down are found by then), not stalled. */
  get ready(): boolean {
    return this.listed && this.synced && this.reconciledOnce && this.stalls().length === 0;
  }

  /** What stops this plan from making progress now; a single failing object does not (it is skipped). */
  stalls(): Stall[] {
    const stalls: Stall[] = [];
    const mirror = this.writer?.failure;
    if (mirror) {
      // git libraries do not always keep the errno code; the message names it.
      const unwritable = /\b(EROFS|EACCES|EPERM|ENOSPC|EDQUOT)\b/.test(`${mirror.code ?? ''} ${mirror.error}`);
      stalls.push({ component: 'mirror', summary: unwritable ? 'mirror not writable' : 'mirror commits failing', error: mirror.error, since: new Date(mirror.since).toISOString() });
    }
    for (const watch of this.listener?.failingWatches() ?? []) {
      if (Date.now() - watch.since < watchStallMs) continue;
      stalls.push({ component: 'listener', summary: `watch of ${watch.resource} failing`, error: watch.error, since: new Date(watch.since).toISOString() });
    }
    return stalls;
  }

  private objectFailed(stage: FailureStage, object: string, reason: string): void {
    this.failures.report(stage, object, reason);
    this.options.metrics.objectFailures.inc({ plan: this.name, stage });
  }

  notReadyReason(): string {
    const stall = this.stalls()[0];
    if (stall) return `plan ${this.name}: ${stall.summary} since ${stall.since}: ${stall.error}`;
    if (this.unreachable) return `plan ${this.name}: ${this.unreachable.role} cluster ${this.unreachable.cluster} unreachable since ${this.unreachable.since}: ${this.unreachable.error}`;
    return `plan ${this.name}: ${!this.listed ? 'listing the source' : !this.synced ? 'initial sync in progress' : 'first reconcile in progress'}`;
  }

  /**
   * A message a stage gave up on (it failed every delivery, or cannot be read): one error line naming its objects,
   * the dead-letter metric, and the plan status. The reconciler later finds what the lost message would have changed.
   */
  private deadLettered(stage: 'processor' | 'mirror' | 'synchronizer', message: unknown, error: Error): void {
    const objects = objectsNamedBy(message);
    this.options.metrics.deadLetters.inc({ plan: this.name, stage });
    this.log.error({ component: stage, objects: objects.slice(0, 20), count: objects.length, err: error.message },
      `message dead-lettered: ${objects.length ? objects.slice(0, 3).join(', ') + (objects.length > 3 ? ` and ${objects.length - 3} more` : '') : 'unreadable message'}; the next reconcile replicates these objects again`);
    const paths = objects.length ? objects : ['(unreadable message)'];
    const at = new Date().toISOString();
    this.deadLetters = [...paths.map((path) => ({ path, reason: `${stage}: ${error.message}`, attempts: 1, at })), ...this.deadLetters].slice(0, keptDeadLetters);
  }

  async start(): Promise<void> {
    const { plan } = this.context;
    if (plan.spec.suspend) {
      this.log.info('plan is suspended; not replicating');
      this.listed = this.synced = this.reconciledOnce = true;
      return;
    }
    const compiled = compilePlan(plan);
    const { bus, state, metrics, mirror } = this.options;
    const batchBytes = Math.min(maxBatchBytes, bus.maxMessageBytes);
    const connect = async (access: ClusterAccess) => {
      const client = await KubeClient.create(loadKubeConfig({ path: access.kubeconfig, context: access.context }), { maxSockets: plan.spec.sync.concurrency + 8 });
      this.clients.push(client);
      return client;
    };
    const source = access(this.context.source);
    const destinationAccess = access(this.context.destination);
    const sourceClient = await connect(source);
    const destinationClient = await connect(destinationAccess);
    // Both clusters must answer before anything starts; one that does not is named (status, /readyz), and the
    // runtime tries again. Requests after this retry transient failures by themselves.
    await probeCluster(sourceClient, source, 'source');
    await probeCluster(destinationClient, destinationAccess, 'destination');
    this.unreachable = undefined;

    // Synchronizer: applies every new mirror commit (and retries failures every 15 s).
    const synchronizer = new Synchronizer({
      // An apply retries transient failures for 10 s; after that the object is recorded as failed and retried with
      // the synchronizer's own backoff, so one stuck request never holds a pass for long.
      plan: this.name, mirrorDir: compiled.mirrorDir, repository: mirror, client: destinationClient.withRetry({ windowMs: 10_000 }), state,
      identities: this.options.identities, concurrency: plan.spec.sync.concurrency, log: this.log.child({ component: 'synchronizer' }), hold: plan.spec.recovery.hold,
      onApplied: (revision) => void recordApplied(state, this.name, revision).catch(() => undefined),
      onResult: (result, lagMs) => {
        metrics.applies.inc({ plan: this.name, action: result.action });
        if (result.action === 'failed') metrics.applyErrors.inc({ plan: this.name });
        if (lagMs !== undefined && result.action !== 'failed') {
          metrics.lag.observe({ plan: this.name }, lagMs / 1000);
          this.lastLagSeconds = lagMs / 1000;
        }
      },
    });
    this.synchronizer = synchronizer;
    synchronizer.prepare();
    const syncLease = state.lock(this.name, 'synchronizer', 15_000);
    this.leases.push(syncLease);
    // One acquisition at a time (the commit consumer and the timers ask concurrently); after a lost lease, what the
    // synchronizer cached is forgotten, since another process may have synchronized meanwhile.
    let acquiring: Promise<boolean> | undefined;
    let lostLease = false;
    const holdSyncLease = (): Promise<boolean> => {
      if (syncLease.isHeld) return Promise.resolve(true);
      acquiring ??= (async () => {
        if (!(await syncLease.tryAcquire())) return false;
        if (lostLease) synchronizer.invalidate();
        syncLease.keepAlive(() => {
          lostLease = true;
          this.log.warn('lost the synchronizer lease; another process synchronizes this plan');
        });
        return true;
      })().finally(() => (acquiring = undefined));
      return acquiring;
    };
    const runSync = async () => {
      if (await holdSyncLease()) await synchronizer.sync();
    };
    this.syncNow = () => runSync();
    // Commits this process's mirror writer made while it held the synchronizer lease are handed over at once (one
    // NATS round trip less on the way to the destination); their stream messages, arriving later, are then skipped.
    const handedOver = new Set<string>();
    this.handOver = (message) => {
      if (!syncLease.isHeld) return;
      handedOver.add(message.commit);
      if (handedOver.size > 10_000) handedOver.delete(handedOver.values().next().value!);
      void synchronizer.dispatch(message.observed ?? {}).catch(() => undefined);
    };
    this.subscriptions.push(await bus.consume({
      stream: 'commits', plan: this.name, durable: 'synchronizer', maxMessages: 100,
      // A commit is acknowledged once its pass is planned: passes overlap, and a pass that fails is redone from the
      // applied commit in Redis by the next one.
      handle: async (messages) => {
        const observed: Record<string, number> = {};
        let fresh = false;
        for (const message of messages) {
          if (!isCommitMessage(message) || handedOver.delete(message.commit)) continue;
          fresh = true;
          for (const [path, at] of Object.entries(message.observed ?? {})) observed[path] = Math.min(observed[path] ?? at, at);
        }
        if (fresh && (await holdSyncLease())) await synchronizer.dispatch(observed);
      },
      onError: (error) => this.log.warn({ err: error.message }, 'synchronizer error; retrying'),
      onDeadLetter: (message, error) => this.deadLettered('synchronizer', message, error),
    }));

    // Processor: source events → destination form → objects stream. An object the processor fails on, for whatever
    // reason, becomes an `object.failed` message (logged by the mirror writer): the others of its batch go on.
    const processed = (event: SourceEvent): ObjectMessage | undefined => {
      // The object may be what made processing fail (no metadata at all): name it as far as it can be named.
      const name = objectName(event.resource, event.object.metadata as Partial<KubeObject['metadata']> | undefined);
      let out: ObjectMessage | undefined;
      try {
        out = processEvent(event, compiled);
      } catch (error) {
        out = { type: 'object.failed', plan: this.name, summary: name, reason: `processing failed: ${(error as Error).message}`, observedAt: event.observedAt };
      }
      if (out?.type === 'object.failed') this.objectFailed(FailureStage.processor, name, out.reason);
      else this.failures.clear(FailureStage.processor, name);
      return out;
    };
    this.subscriptions.push(await bus.consume({
      stream: 'events', plan: this.name, durable: 'processor', maxMessages: 500,
      handle: async (messages, raws) => {
        this.log.debug({ component: 'processor', messages: messages.length }, 'processing');
        let events = 0;
        // Every publish gets its rejection handler at once: the loop yields (nextTurn) before they are awaited, and a
        // rejection without a handler by then would end the process. The first failure fails the batch.
        const publishing: Promise<void>[] = [];
        let failure: Error | undefined;
        for (const [index, message] of messages.entries()) {
          // A break between batches: the synchronizer's replies from the destination (and the mirror writer's from
          // Redis) are handled in between, so an initial sync applies while it is still listing.
          if (index > 0) await nextTurn();
          if (failure) break;
          // A batch of events gives one batch of objects (one message), its id derived from the batch's sequence.
          const outs: { json: string; id: string }[] = [];
          for (const event of sourceEventsOf(message)) {
            events++;
            const out = processed(event);
            metrics.objects.inc({ plan: this.name, outcome: out?.type ?? 'skipped' });
            if (out) outs.push({ json: JSON.stringify(out), id: `${this.name}:${raws[index]!.seq}${outs.length ? `:${outs.length}` : ''}` });
          }
          for (const batch of serializeBatches('object.batch', this.name, 'messages', outs, (out) => out, batchBytes)) {
            publishing.push(bus.publishSerialized('objects', this.name, batch.json, batch.dedupId).then((fresh) => {
              if (fresh) this.progress.objectsPublished += batch.items.length;
            }, (error: Error) => {
              failure ??= error;
            }));
          }
        }
        await Promise.all(publishing);
        if (failure) throw failure;
        this.progress.eventsProcessed += events;
      },
      onError: (error) => this.log.warn({ err: error.message }, 'processor error; retrying'),
      onDeadLetter: (message, error) => this.deadLettered('processor', message, error),
    }));

    // Mirror writer: one per plan across every lifeboat process, by lease.
    const writer = new MirrorWriter({
      plan: this.name, mirrorDir: compiled.mirrorDir, repository: mirror,
      commitIntervalMs: parseDuration(plan.spec.sync.commitInterval), maxBatch: plan.spec.sync.maxBatch,
      trailers: () => ({ Plan: this.name, 'Plan-Revision': this.planRevision() ?? 'unknown', 'Source-Cluster': source.name }),
      publishCommit: (message) => {
        this.handOver?.(message);
        return bus.publish('commits', this.name, message, `${this.name}:${message.commit}`);
      },
      onCommit: ({ durationMs, commit }) => {
        metrics.commits.inc({ plan: this.name });
        metrics.commitDuration.observe({ plan: this.name }, durationMs / 1000);
        state.setValue(this.name, 'mirror-head', commit).catch((error: Error) => this.log.warn({ err: error.message }, 'cannot record the mirror head in Redis'));
        this.options.pusher?.request().catch((error: Error) => this.log.warn({ err: error.message }, 'cannot push the mirror; retrying with the next commit'));
      },
      onFailed: (message) => this.log.warn({ object: message.summary, reason: message.reason }, 'object cannot be processed'),
      guard: { ...plan.spec.deletes.guard, windowMs: parseDuration(plan.spec.deletes.guard.window) },
      decisions: {
        held: () => state.heldDeletes(this.name),
        hold: (entries) => state.holdDeletes(this.name, entries),
        rejected: () => state.rejectedDeletes(this.name),
        clear: (paths) => state.clearDeleteDecisions(this.name, paths),
      },
      onHeld: (_held, total) => metrics.heldDeletes.set({ plan: this.name }, total),
      paused: () => state.pausedPaths(this.name),
      log: this.log.child({ component: 'mirror' }),
    });
    this.writer = writer;
    const mirrorLease = state.lock(this.name, 'mirror', 10_000);
    this.leases.push(mirrorLease);
    // One try at a time: while Redis is down a try waits, and the timer's next ones must not pass the check below
    // together when it is back (each would start a mirror consumer).
    const takeMirror = singleFlight(async () => {
      if (this.stopped || this.mirrorSubscription || !(await mirrorLease.tryAcquire())) return;
      this.log.info('this process is the mirror writer');
      mirrorLease.keepAlive(async () => {
        this.log.warn('lost the mirror writer lease; stopping');
        await this.mirrorSubscription?.stop();
        this.mirrorSubscription = undefined;
      });
      this.mirrorSubscription = await bus.consume({
        stream: 'objects', plan: this.name, durable: 'mirror', maxMessages: plan.spec.sync.maxBatch, manualAck: true,
        handle: async (messages, raws) => {
          this.log.debug({ component: 'mirror', messages: messages.length }, 'batching');
          const objects: ObjectMessage[] = [];
          const acks: (Acknowledgeable | undefined)[] = [];
          messages.forEach((message, index) => {
            const carried = objectMessagesOf(message);
            const raw = raws[index];
            if (carried.length === 0) {
              this.log.warn({ seq: raw?.seq }, 'not an object message; dropped');
              raw?.term();
              return;
            }
            const ack = raw && carried.length > 1 ? sharedAck(raw, carried.length) : raw;
            for (const object of carried) {
              objects.push(object);
              acks.push(ack);
            }
          });
          writer.add(objects, acks);
        },
        onError: (error) => this.log.warn({ err: error.message }, 'mirror error; retrying'),
        onDeadLetter: (message, error) => this.deadLettered('mirror', message, error),
      });
    });
    await takeMirror();
    this.timers.push(setInterval(() => void takeMirror().catch(() => undefined), 3000));
    this.timers.push(setInterval(() => void runSync().catch((error: Error) => this.log.warn({ err: error.message }, 'sync failed')), 15_000));
    this.timers.push(setInterval(() => void this.publishStatus().catch(() => undefined), 2000));

    const protect = async (object: KubeObject) => {
      if (object.kind !== 'Secret' || object.apiVersion !== 'v1') return object;
      if (plan.spec.secrets.mode !== 'encrypt') return undefined;
      refuseForeignCiphertext(object);
      return encryptSecret(object, plan.spec.secrets.recipients, this.hashKey);
    };
    const terminating = new NamespaceStates(sourceClient);
    let paceBudgetMs = 60_000;
    const selectsKind = (resource: ApiResource) => compiled.scope.selectsKind(resource.group, resource.kind, resource.namespaced);
    const relevant = (object: KubeObject, resource: ApiResource) => !defaultExclusion(object).excluded
      && compiled.scope.mayInclude(candidateOf(object as TransformObject, resource.namespaced));
    // Listener last: everything downstream is ready for its events.
    this.listener = new Listener({
      plan: this.name, client: sourceClient, log: this.log.child({ component: 'listener' }),
      selectsKind,
      relevant,
      checkpoints: {
        load: () => state.checkpoints(this.name),
        save: (resource, version) => state.saveCheckpoint(this.name, resource, version),
        clear: (resource) => state.clearCheckpoint(this.name, resource),
      },
      // Progress counts what JetStream stored: a re-listed object it already has (same de-duplication id) is dropped.
      publish: async (events) => {
        const serialize = ({ event, dedupId }: BuiltEvent) => ({ json: stringifyJson(event), id: dedupId });
        await Promise.all(serializeBatches('source.batch', this.name, 'events', events, serialize, batchBytes).map(async (batch) => {
          if (await bus.publishSerialized('events', this.name, batch.json, batch.dedupId)) this.progress.eventsPublished += batch.items.length;
        }));
      },
      protect,
      namespaceTerminating: (namespace) => terminating.check(namespace),
      onEvent: (type) => metrics.events.inc({ plan: this.name, type }),
      onObjectFailed: (object, reason) => this.objectFailed(FailureStage.listener, object, reason),
      onObjectPublished: (object) => this.failures.clear(FailureStage.listener, object),
      refused: refusedByBus,
      // While this process also synchronizes, an initial list waits (up to a second a page, a minute in all) when
      // the synchronizer has more than `paceBacklog` objects to apply: the destination starts work while the source
      // is still being listed, instead of after every page was listed, encrypted and committed on the same event
      // loop. The minute keeps a paged list well inside the API server's compaction interval (its continue token
      // expires with the snapshot it pages through).
      pace: async () => {
        const started = Date.now();
        const until = started + Math.min(1000, paceBudgetMs);
        while (syncLease.isHeld && synchronizer.backlog() > paceBacklog && Date.now() < until) await sleep(20);
        paceBudgetMs -= Date.now() - started;
      },
    });
    const started = Date.now();
    await this.listener.start();
    this.listed = true;
    this.log.info({ kinds: this.listener.kinds().length, seconds: (Date.now() - started) / 1000 }, 'initial list done');
    await runSync();
    // Initial sync is done when everything listed went through every stage and the destination has the mirror head.
    while (!this.stopped && !(await this.caughtUp())) await new Promise((resolve) => setTimeout(resolve, 200));
    this.synced = true;
    this.log.info({ seconds: (Date.now() - started) / 1000 }, 'initial sync done');

    // Reconciler: now, then every reconcile.interval, by the process that synchronizes this plan.
    this.reconciler = new Reconciler({
      compiled, client: sourceClient, repository: mirror, synchronizer, drift: plan.spec.reconcile.drift, selectsKind, relevant, protect,
      recipients: plan.spec.secrets.recipients, hashKey: this.hashKey,
      // An object the listener would skip is reported the same way: after a restart it is named again here.
      onObjectFailed: (object, reason) => this.objectFailed(FailureStage.listener, object, reason),
      refused: refusedByBus,
      onSourceListed: (objects, listedFrom) => this.failures.retain(objects, listedFrom),
      publishEvent: async (event, dedupId) => {
        if (await bus.publish('events', this.name, event, dedupId)) this.progress.eventsPublished++;
      },
      publishObject: async (message, dedupId) => {
        if (await bus.publish('objects', this.name, message, dedupId)) this.progress.objectsPublished++;
      },
      log: this.log.child({ component: 'reconciler' }),
    });
    const reconcileLoop = async () => {
      if (this.stopped) return;
      if (syncLease.isHeld) await this.reconcile().catch((error: Error) => this.log.warn({ err: error.message }, 'reconcile failed; retrying at the next interval'));
      this.reconciledOnce = true;
      if (!this.stopped) this.reconcileTimer = setTimeout(() => void reconcileLoop(), parseDuration(plan.spec.reconcile.interval));
    };
    await reconcileLoop();
  }

  /** Commits that arrived from the mirror's remote: pause capture of what they changed and apply them now. */
  async remoteCommits(from: string | undefined, to: string): Promise<void> {
    const mirrorDir = this.context.plan.spec.mirror.path ?? this.name;
    const { mirror } = this.options;
    // A person's commits (a git revert, a fix) pause capture of what they changed; commits another lifeboat process
    // captured (a mirror writer's `Batch` trailer) are replication, not a person's intent.
    const commits = await mirror.commitsBetween(from, to);
    const changed = new Set<string>();
    if (!commits) for (const change of await mirror.diff(from, to, mirrorDir)) changed.add(change.path);
    else {
      for (const commit of commits.filter((entry) => !isCapture(entry.message))) {
        for (const change of await mirror.diff(commit.parents[0], commit.oid, mirrorDir)) changed.add(change.path);
      }
    }
    const paths = [...changed];
    if (!paths.length) return;
    await this.options.state.pause(this.name, paths);
    this.log.warn({ from: from?.slice(0, 12), to: to.slice(0, 12), objects: paths.length }, 'commits pushed to the mirror remote were pulled; capture of those objects is paused until `lifeboat resume`');
    await this.syncNow?.();
  }

  /** One reconcile now (source ⇄ mirror ⇄ destination); the report is kept for status. */
  async reconcile(): Promise<ReconcileReport> {
    if (!this.reconciler) throw new Error(`plan ${this.name} has not finished its initial sync`);
    const { metrics, state } = this.options;
    const report = await this.reconciler.run();
    this.lastReconcile = report;
    const failed = 'error' in report.source || 'error' in report.destination;
    metrics.reconciles.inc({ plan: this.name, result: failed ? 'error' : 'ok' });
    if (!('error' in report.source)) {
      metrics.corrections.inc({ plan: this.name, action: 'source-changed' }, report.source.changed.length);
      metrics.corrections.inc({ plan: this.name, action: 'source-deleted' }, report.source.deleted.length);
    }
    if (!('error' in report.destination)) {
      const destination = report.destination;
      metrics.drift.set({ plan: this.name, kind: 'drifted' }, destination.drifted.length);
      metrics.drift.set({ plan: this.name, kind: 'missing' }, destination.missing.length);
      metrics.drift.set({ plan: this.name, kind: 'orphaned' }, destination.orphaned.length);
      metrics.corrections.inc({ plan: this.name, action: 'destination' }, destination.corrected);
    }
    await state.redis.set(state.key(this.name, 'reconcile'), JSON.stringify(report), 'EX', 7 * 24 * 3600);
    return report;
  }

  /** True when no stage has work queued and the destination has the mirror head applied. */
  private async caughtUp(): Promise<boolean> {
    const { eventsPublished, eventsProcessed, objectsPublished } = this.progress;
    if (eventsProcessed < eventsPublished) return false;
    // When this process writes the mirror, every object it processed must be committed; otherwise the other
    // writer's consumer must have nothing pending.
    if (this.mirrorSubscription && this.writer && (this.writer.committedMessages < objectsPublished || this.writer.queued > 0 || this.writer.busy)) return false;
    const pending = await Promise.all([...this.subscriptions, this.mirrorSubscription].map((subscription) => subscription?.pending() ?? Promise.resolve(0)));
    if (pending.some((count) => count > 0)) {
      this.log.debug({ pending, progress: this.progress, committed: this.writer?.committedMessages }, 'catching up');
      return false;
    }
    const head = await this.options.mirror.head();
    // A failed-over plan no longer applies to its old stand-by: nothing to wait for there.
    if (await this.options.state.getValue(this.name, 'failover')) return true;
    return head === undefined || head === (await this.options.state.getValue(this.name, 'applied-head'));
  }

  async status(): Promise<PlanStatus> {
    const { state, mirror } = this.options;
    const mirrorHead = await mirror.head();
    // Counting walks the plan's whole tree: do it again only for a new head, and at most every 10 s.
    if (mirrorHead !== this.counted.head && (Date.now() - this.counted.at > 10_000 || !this.listed || !this.synced)) {
      const objectsByKind: Record<string, number> = {};
      for (const file of (await mirror.files(mirrorHead, this.context.plan.spec.mirror.path ?? this.name)).keys()) {
        const { ref } = refFromMirrorPath(file);
        const kind = ref.group ? `${ref.group}/${ref.kind}` : ref.kind;
        objectsByKind[kind] = (objectsByKind[kind] ?? 0) + 1;
      }
      this.counted = { head: mirrorHead, at: Date.now(), objectsByKind };
    }
    const objectsByKind = this.counted.objectsByKind;
    return {
      plan: this.name, planRevision: this.planRevision(), mirrorHead, appliedHead: await state.getValue(this.name, 'applied-head'),
      objectsByKind, lagSeconds: this.lastLagSeconds, mirrorWriter: this.mirrorSubscription !== undefined,
      kinds: this.listener?.kinds() ?? [], initialSync: this.listed ? 'done' : 'listing',
      lastErrors: [...this.deadLetters, ...(await state.failures(this.name))].slice(0, 20),
      failing: this.failures.list(shownFailures), failingObjects: this.failures.count(), stalls: this.stalls(), heldDeletes: (await state.heldDeletes(this.name)).length,
      paused: (await state.pausedPaths(this.name)).size, failedOver: await state.getValue(this.name, 'failover'),
      reconcile: this.lastReconcile && summarize(this.lastReconcile, this.context.plan.spec.reconcile.drift), unreachable: this.unreachable, updatedAt: new Date().toISOString(),
    };
  }

  /** Writes the plan's status to Redis (and the queue gauges); one write at a time, so an outage queues at most one. */
  readonly publishStatus = singleFlight(() => this.writeStatus());

  private async writeStatus(): Promise<void> {
    const status = await this.status();
    this.options.metrics.heldDeletes.set({ plan: this.name }, status.heldDeletes);
    for (const component of ['mirror', 'listener'] as const) {
      this.options.metrics.stalled.set({ plan: this.name, component }, status.stalls.some((stall) => stall.component === component) ? 1 : 0);
    }
    await this.options.state.redis.set(this.options.state.key(this.name, 'status'), JSON.stringify(status), 'EX', 3600);
    for (const [stage, subscription] of [['processor', this.subscriptions[1]], ['synchronizer', this.subscriptions[0]], ['mirror', this.mirrorSubscription]] as const) {
      if (subscription) this.options.metrics.queueDepth.set({ plan: this.name, stage }, await subscription.pending());
    }
  }

  /** Graceful: stop listening, finish the batch in hand (commit it), then stop the consumers. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach((timer) => clearInterval(timer));
    clearTimeout(this.reconcileTimer);
    // In pipeline order, so each stage finishes what the previous one handed it: the processor publishes its batch,
    // the mirror consumer stops taking messages, the writer commits what it holds, the synchronizer ends its pass.
    await this.listener?.stop();
    await this.subscriptions[1]?.stop();
    await this.mirrorSubscription?.stop();
    await this.writer?.stop();
    await this.subscriptions[0]?.stop();
    await Promise.all(this.leases.map((lease) => lease.release().catch(() => undefined)));
    this.clients.forEach((client) => client.close());
  }
}

/** `action` run by one caller at a time: a call while it runs gets the running one's promise. */
/** A commit a mirror writer made (any lifeboat process): it carries the batch trailer. */
function isCapture(message: string): boolean {
  return parseTrailers(message).Batch !== undefined;
}

function singleFlight(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action().finally(() => (running = undefined)));
}

/** Whether source namespaces are being deleted, asked once per namespace per two seconds. */
class NamespaceStates {
  private readonly client: KubeClient;
  private readonly cache = new Map<string, { at: number; terminating: Promise<boolean> }>();

  constructor(client: KubeClient) {
    this.client = client;
  }

  check(namespace: string): Promise<boolean> {
    const cached = this.cache.get(namespace);
    if (cached && Date.now() - cached.at < 2000) return cached.terminating;
    const terminating = this.client.request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`)
      .then((object) => object.metadata.deletionTimestamp !== undefined)
      .catch((error: unknown) => error instanceof KubeError && error.code === 404);
    this.cache.set(namespace, { at: Date.now(), terminating });
    return terminating;
  }
}

/** Reads age identities (AGE-SECRET-KEY-1… lines; # comments allowed) from files. */
export function readIdentities(files: string[]): string[] {
  return files.flatMap((file) => fs.readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('AGE-SECRET-KEY-')));
}
