// One plan's pipeline: the wiring of its runnables (listener, processor, mirror writer, synchronizer, reconciler —
// those of `components` this process runs), built from the plan and small ports by this composition root. The
// stages that must run once per plan across processes are wrapped in leases. A runner can be started, stopped and
// replaced by one for a new spec; "started" means its stages run, not that the initial sync is done (`ready`).
import { KubeClient } from '../kube/client.ts';
import { refFromMirrorPath } from '../kube/ref.ts';
import { parseTrailers } from '../mirror/repository.ts';
import { FailureStage, ObjectFailures, type Stall } from '../pipeline/failures.ts';
import { objectsNamedBy } from '../pipeline/messages.ts';
import { compilePlan } from '../pipeline/processor.ts';
import type { ReconcileReport, SourceReport } from '../pipeline/reconciler.ts';
import type { DestinationReport } from '../pipeline/synchronizer.ts';
import type { Logger } from '../util/log.ts';
import { access, kubeConfigOf, probeCluster, type ClusterAccess, type PlanContext } from './plans.ts';
import { type Component, type PlanPorts, type Shortcuts } from './ports.ts';
import { Leased, notReady, ready, stopInOrder, type Readiness, type Runnable } from './runnable.ts';
import { ListenerStage } from './stages/listener.ts';
import { MirrorStage } from './stages/mirror.ts';
import { ProcessorStage } from './stages/processor.ts';
import { ReconcilerStage, settledThroughBus } from './stages/reconciler.ts';
import { SyncStage } from './stages/synchronizer.ts';
import { readyVerdict } from '../operator/conditions.ts';
import { notRunHere, summarize, type PlanStatus, type RunnerOptions, type Unreachable } from './status.ts';

/** How often a plan's RPO is sampled into its lag history (state.recordLag keeps an hour of samples). */
const lagSampleMs = 10_000;
/** Dead letters kept per plan for its status (lastErrors). */
const keptDeadLetters = 20;
/** Failing objects named in a plan's status (all of them are counted). */
const shownFailures = 20;
/** A plan's leases: how long one outlives its holder, and how often a stand-by looks (takeover within ~12 s). */
const leaseTtlMs = 10_000;
const leaseRetryMs = 2000;
/**
 * Shutdown order: each stage finishes what the previous one handed it — the listener stops publishing, the processor
 * publishes its batch, the mirror writer commits what it holds, the synchronizer ends its pass.
 */
export const shutdownOrder: readonly Component[] = ['listener', 'reconciler', 'processor', 'mirror', 'synchronizer'];
/** Start order: downstream first, so each stage is there for what the one before it sends. */
const startOrder: readonly Component[] = ['synchronizer', 'mirror', 'processor', 'reconciler', 'listener'];

export class PlanRunner {
  readonly context: PlanContext;
  private readonly options: RunnerOptions;
  private readonly log: Logger;
  private readonly name: string;
  private clients: KubeClient[] = [];
  private runnables: Runnable[] = [];
  private stages: { listener?: ListenerStage; processor?: ProcessorStage; mirror?: MirrorStage; sync?: SyncStage; reconciler?: ReconcilerStage } = {};
  private leased = new Map<string, Leased>();
  private controller = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private initialSynced = false;
  private lastSource: SourceReport | { error: string } | undefined;
  private lastDestination: DestinationReport | { error: string } | undefined;
  private lastReconcileAt: string | undefined;
  private counted: { head: string | undefined; at: number; objectsByKind: Record<string, number> } = { head: undefined, at: 0, objectsByKind: {} };
  /** When the lag history last got a sample (0: at the first status). */
  private lagSampledAt = 0;
  /** Messages given up on by this process, newest first, shown in status with the apply failures. */
  private deadLetters: PlanStatus['lastErrors'] = [];
  /** Objects the listener or processor skipped, cleared when they go through or are deleted. */
  private readonly failures: ObjectFailures;
  /** The cluster that did not answer when this plan last tried to start, and since when. */
  unreachable: Unreachable | undefined;

  constructor(context: PlanContext, options: RunnerOptions) {
    this.context = context;
    this.options = options;
    this.name = context.plan.metadata.name;
    this.log = options.log.child({ plan: this.name });
    this.failures = new ObjectFailures((stage, failing) => options.metrics.failingObjects.set({ plan: this.name, stage }, failing));
    // Each plan's counters and gauges exist from the start at 0, so that a rate or an alert over them has a series
    // to read before the first failure (Prometheus' advice: initialize known label sets).
    const { metrics } = options;
    const plan = { plan: this.name };
    metrics.applyErrors.inc(plan, 0);
    metrics.commits.inc(plan, 0);
    metrics.heldDeletes.set(plan, 0);
    for (const stage of Object.values(FailureStage)) {
      metrics.failingObjects.set({ ...plan, stage }, 0);
      metrics.objectFailures.inc({ ...plan, stage }, 0);
    }
  }

  private runs(component: Component): boolean {
    return this.options.components.has(component);
  }

  private async connect(cluster: ClusterAccess, role: 'source' | 'destination'): Promise<KubeClient> {
    const client = await KubeClient.create(kubeConfigOf(cluster), { maxSockets: this.context.plan.spec.sync.concurrency + 8 });
    this.clients.push(client);
    // Both clusters must answer before anything starts; one that does not is named (status, /readyz), and the
    // runtime tries again. Requests after this retry transient failures by themselves.
    await probeCluster(client, cluster, role);
    return client;
  }

  /** Connects the clusters this process's stages need and starts them; resolves once they run. */
  async start(): Promise<void> {
    const { plan } = this.context;
    if (plan.spec.suspend) {
      this.log.info('plan is suspended; not replicating');
      this.initialSynced = true;
      return;
    }
    const needsSource = this.runs('listener') || this.runs('reconciler');
    const source = needsSource ? await this.connect(access(this.context.source), 'source') : undefined;
    const destination = this.runs('synchronizer') ? await this.connect(access(this.context.destination), 'destination') : undefined;
    this.unreachable = undefined;
    const ports = this.ports(source, destination);
    this.build(ports);
    const byName = new Map(this.runnables.map((runnable) => [runnable.name, runnable]));
    for (const name of startOrder) await byName.get(name)?.start(this.controller.signal);
    this.timers.push(setInterval(() => void this.publishStatus().catch(() => undefined), 2000));
    // Until the initial sync is done (the timer then ends itself).
    const initialSync = setInterval(() => void this.checkInitialSync().then(() => {
      if (this.initialSynced) clearInterval(initialSync);
    }, () => undefined), 200);
    this.timers.push(initialSync);
  }

  private ports(source: KubeClient | undefined, destination: KubeClient | undefined): PlanPorts {
    const { plan } = this.context;
    const { bus, state, mirror, metrics } = this.options;
    // Shortcuts only between stages that share this process; each stage fills in its side when it starts.
    const shortcuts: Shortcuts | undefined = this.options.components.size > 1 ? {} : undefined;
    return {
      name: this.name, plan, compiled: compilePlan(plan), bus, state, mirror, metrics, log: this.log,
      source, destination, sourceCluster: 'error' in this.context.source ? 'unknown' : this.context.source.name,
      identities: this.options.identities, hashKey: this.options.hashKey, planRevision: this.options.planRevision, pusher: this.options.pusher,
      failures: this.failures,
      objectFailed: (stage, object, reason) => {
        this.failures.report(stage, object, reason);
        metrics.objectFailures.inc({ plan: this.name, stage });
      },
      deadLettered: (stage, message, error) => this.deadLettered(stage, message, error),
      shortcuts,
    };
  }

  /** The runnables of this process's components; those that must be one per plan are wrapped in leases. */
  private build(ports: PlanPorts): void {
    const lease = (runnable: Runnable): Runnable => {
      const wrapped = new Leased(runnable, { lease: this.options.state.lock(this.name, runnable.name, leaseTtlMs), retryMs: leaseRetryMs, allowance: this.options.allowance, log: this.log });
      this.leased.set(runnable.name, wrapped);
      return wrapped;
    };
    const stages = this.stages;
    if (this.runs('synchronizer')) {
      stages.sync = new SyncStage(ports, { onPass: this.options.onPass, onDestinationReport: (report) => this.destinationReconciled(report) });
      this.runnables.push(lease(stages.sync));
    }
    if (this.runs('mirror')) this.runnables.push(lease((stages.mirror = new MirrorStage(ports))));
    // Processor replicas share one durable consumer: no lease, every process that runs it takes a share.
    if (this.runs('processor')) this.runnables.push((stages.processor = new ProcessorStage(ports)));
    if (this.runs('reconciler')) {
      stages.reconciler = new ReconcilerStage(ports, { settled: settledThroughBus(ports), onReport: (report) => this.sourceReconciled(report) });
      this.runnables.push(lease(stages.reconciler));
    }
    if (this.runs('listener')) this.runnables.push(lease((stages.listener = new ListenerStage(ports))));
  }

  /** The source half of a reconcile ran (the reconciler stage here): metrics, and the report kept. */
  private sourceReconciled(report: SourceReport | { error: string }): void {
    this.lastSource = report;
    if (!('error' in report)) {
      this.options.metrics.corrections.inc({ plan: this.name, action: 'source-changed' }, report.changed.length);
      this.options.metrics.corrections.inc({ plan: this.name, action: 'source-deleted' }, report.deleted.length);
    }
    this.reconciled('error' in report);
  }

  /** The destination half ran (the synchronizer stage here). */
  private destinationReconciled(report: DestinationReport | { error: string }): void {
    this.lastDestination = report;
    if (!('error' in report)) {
      const { metrics } = this.options;
      metrics.drift.set({ plan: this.name, kind: 'drifted' }, report.drifted.length);
      metrics.drift.set({ plan: this.name, kind: 'missing' }, report.missing.length);
      metrics.drift.set({ plan: this.name, kind: 'orphaned' }, report.orphaned.length);
      metrics.corrections.inc({ plan: this.name, action: 'destination' }, report.corrected);
    }
    this.reconciled('error' in report);
  }

  private reconciled(failed: boolean): void {
    this.lastReconcileAt = new Date().toISOString();
    this.options.metrics.reconciles.inc({ plan: this.name, result: failed ? 'error' : 'ok' });
    const combined = this.lastReport();
    if (combined) void this.options.state.saveReconcileReport(this.name, combined).catch(() => undefined);
  }

  /** Both halves as last run here; a half another process runs says so (summarize leaves it out). */
  private lastReport(): ReconcileReport | undefined {
    if (!this.lastReconcileAt) return undefined;
    if ((this.stages.reconciler && !this.lastSource) || (this.stages.sync && !this.lastDestination)) return undefined;
    return { plan: this.name, at: this.lastReconcileAt, source: this.lastSource ?? { error: notRunHere }, destination: this.lastDestination ?? { error: notRunHere } };
  }

  /** One reconcile now, of the halves this process runs (source ⇄ mirror, mirror ⇄ destination). */
  async reconcile(): Promise<ReconcileReport> {
    if (!this.stages.reconciler && !this.stages.sync) throw new Error(`plan ${this.name}: this process runs neither the reconciler nor the synchronizer`);
    if (!this.ready) throw new Error(`plan ${this.name} has not finished its initial sync`);
    const held = (name: string) => this.leased.get(name)?.holder === true;
    if (this.stages.reconciler && held('reconciler')) await this.stages.reconciler.reconcile();
    if (this.stages.sync && held('synchronizer')) await this.stages.sync.reconcile();
    return this.lastReport()!;
  }

  /**
   * Initial sync is done (once) when the source was listed into the pipeline, no stage has a message waiting
   * (JetStream's consumer backlogs, whichever process consumes) and the destination has the mirror head applied.
   * Only a process that synchronizes the plan waits for it; the others are ready when their own stages are.
   */
  private async checkInitialSync(): Promise<void> {
    if (this.initialSynced || this.stopped) return;
    if (!this.leased.get('synchronizer')?.holder) return;
    const { bus, state, mirror } = this.options;
    if (!(await state.getValue(this.name, 'listed-at'))) return;
    const backlogs = await Promise.all([bus.backlog('events', 'processor', this.name), bus.backlog('objects', 'mirror', this.name), bus.backlog('commits', 'synchronizer', this.name)]);
    if (backlogs.some((count) => count !== 0)) {
      this.log.debug({ backlogs }, 'catching up');
      return;
    }
    const head = await mirror.head();
    // A failed-over plan no longer applies to its old stand-by: nothing to wait for there.
    const caughtUp = (await state.getValue(this.name, 'failover')) !== undefined || head === undefined || head === (await state.getValue(this.name, 'applied-head'));
    if (!caughtUp || this.initialSynced) return;
    this.initialSynced = true;
    this.log.info('initial sync done');
  }

  /** Every stage here ready, and (in the process that synchronizes) the initial sync done; not stalled. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  readiness(): Readiness {
    if (this.unreachable) return notReady(`plan ${this.name}: ${this.unreachable.role} cluster ${this.unreachable.cluster} unreachable since ${this.unreachable.since}: ${this.unreachable.error}`);
    if (this.context.plan.spec.suspend) return ready;
    if (!this.runnables.length) return notReady(`plan ${this.name}: starting`);
    // Stalls first: they say what blocks every object.
    const order = [...this.runnables].sort((a, b) => Number(b.name === 'mirror' || b.name === 'listener') - Number(a.name === 'mirror' || a.name === 'listener'));
    for (const runnable of order) {
      const readiness = runnable.readiness();
      if (!readiness.ready) return notReady(`plan ${this.name}: ${readiness.reason}`);
    }
    if (this.leased.get('synchronizer')?.holder && !this.initialSynced) return notReady(`plan ${this.name}: initial sync in progress`);
    return ready;
  }

  notReadyReason(): string {
    const readiness = this.readiness();
    return readiness.ready ? `plan ${this.name}: ready` : readiness.reason;
  }

  /** What stops this plan from making progress now; a single failing object does not (it is skipped). */
  stalls(): Stall[] {
    return [...(this.stages.mirror?.stalls() ?? []), ...(this.stages.listener?.stalls() ?? [])];
  }

  /** Leases of this plan held here, by component (for status and the lease tests). */
  holds(): string[] {
    return [...this.leased.entries()].filter(([, leased]) => leased.holder).map(([name]) => name);
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
      for (const commit of commits.filter((entry) => parseTrailers(entry.message).Batch === undefined)) {
        for (const change of await mirror.diff(commit.parents[0], commit.oid, mirrorDir)) changed.add(change.path);
      }
    }
    const paths = [...changed];
    if (!paths.length) return;
    await this.options.state.pause(this.name, paths);
    this.log.warn({ from: from?.slice(0, 12), to: to.slice(0, 12), objects: paths.length }, 'commits pushed to the mirror remote were pulled; capture of those objects is paused until `lifeboat resume`');
    if (this.leased.get('synchronizer')?.holder) await this.stages.sync?.sync();
  }

  async status(): Promise<PlanStatus> {
    const { state, mirror } = this.options;
    const mirrorHead = await mirror.head();
    const listed = this.stages.listener?.initialListDone || Boolean(await state.getValue(this.name, 'listed-at'));
    // Counting walks the plan's whole tree: do it again only for a new head, and at most every 10 s.
    if (mirrorHead !== this.counted.head && (Date.now() - this.counted.at > 10_000 || !listed || !this.initialSynced)) {
      const objectsByKind: Record<string, number> = {};
      for (const file of (await mirror.files(mirrorHead, this.context.plan.spec.mirror.path ?? this.name)).keys()) {
        const { ref } = refFromMirrorPath(file);
        const kind = ref.group ? `${ref.group}/${ref.kind}` : ref.kind;
        objectsByKind[kind] = (objectsByKind[kind] ?? 0) + 1;
      }
      this.counted = { head: mirrorHead, at: Date.now(), objectsByKind };
    }
    const report = this.lastReport();
    return {
      plan: this.name, planRevision: this.options.planRevision(), mirrorHead, appliedHead: await state.getValue(this.name, 'applied-head'),
      objectsByKind: this.counted.objectsByKind, lagSeconds: this.stages.sync?.rpoSeconds(), mirrorWriter: this.leased.get('mirror')?.holder === true,
      holds: this.holds(), kinds: this.stages.listener?.kinds ?? [], initialSync: listed ? 'done' : 'listing',
      lastErrors: [...this.deadLetters, ...(await state.failures(this.name))].slice(0, 20),
      failing: this.failures.list(shownFailures), failingObjects: this.failures.count(), stalls: this.stalls(), heldDeletes: (await state.heldDeletes(this.name)).length,
      paused: (await state.pausedPaths(this.name)).size, failedOver: await state.getValue(this.name, 'failover'),
      reconcile: report && summarize(report, this.context.plan.spec.reconcile.drift), unreachable: this.unreachable, updatedAt: new Date().toISOString(),
    };
  }

  /** Writes the plan's status to Redis (and the queue gauges); one write at a time, so an outage queues at most one. */
  readonly publishStatus = singleFlight(() => this.writeStatus());

  /**
   * True in the one process that writes this plan's status (Redis, the custom resource): the one that synchronizes
   * it, or, before its stages run, the one that keeps trying to start it, to say why it cannot.
   */
  get writesStatus(): boolean {
    return !this.runnables.length || this.leased.get('synchronizer')?.holder === true;
  }

  private async writeStatus(): Promise<void> {
    const { metrics, state } = this.options;
    if (!this.writesStatus) return;
    const status = await this.status();
    metrics.heldDeletes.set({ plan: this.name }, status.heldDeletes);
    for (const [kind, count] of Object.entries(status.objectsByKind)) metrics.objectsInMirror.set({ plan: this.name, kind }, count);
    // The plan's Ready verdict as the operator's condition says it (the console shows it from Redis).
    const verdict = readyVerdict({ type: 'running', generation: 0, suspended: this.context.plan.spec.suspend, ready: this.ready, notReadyReason: this.notReadyReason(), status });
    status.ready = { status: verdict.status, reason: verdict.reason, message: verdict.message };
    // The operator sets these two from the plan's Ready condition (which knows an invalid spec) instead.
    if (this.options.planGauges !== false) {
      metrics.planReady.set({ plan: this.name }, verdict.status === 'True' ? 1 : 0);
      metrics.planLag.set({ plan: this.name }, status.lagSeconds ?? 0);
    }
    for (const component of ['mirror', 'listener'] as const) {
      metrics.stalled.set({ plan: this.name, component }, status.stalls.some((stall) => stall.component === component) ? 1 : 0);
    }
    await state.savePlanStatus(this.name, status);
    // The last hour of the RPO, one sample per 10 s (the console's sparklines and lag chart).
    if (Date.now() - this.lagSampledAt >= lagSampleMs) {
      this.lagSampledAt = Date.now();
      await state.recordLag(this.name, this.lagSampledAt, status.lagSeconds ?? 0);
    }
    for (const [stage, consumer] of [['processor', this.stages.processor?.consumer], ['synchronizer', this.stages.sync?.consumer], ['mirror', this.stages.mirror?.consumer]] as const) {
      if (consumer) metrics.queueDepth.set({ plan: this.name, stage }, await consumer.pending());
    }
  }

  /** Graceful: each stage finishes what it holds, in `shutdownOrder`; leases are given back. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach((timer) => clearInterval(timer));
    await stopInOrder(this.runnables, shutdownOrder, this.log);
    this.controller.abort();
    this.clients.forEach((client) => client.close());
  }
}

/** `action` run by one caller at a time: a call while it runs gets the running one's promise. */
export function singleFlight(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action().finally(() => (running = undefined)));
}
