// Synchronizer: commits stream → passes that make the destination equal to the mirror head; every 15 s a pass
// anyway (failures due for a retry, commits of a process whose messages were lost); and, on the plan's reconcile
// interval, the destination half of the reconcile (drift, missing, orphaned objects), which only the process that
// writes to the destination may do. One per plan across every process (the runner wraps it in a lease): a process
// that does not hold the lease does not consume the plan's commit messages.
import type { Subscription } from '../../bus/bus.ts';
import { isCommitMessage } from '../../pipeline/messages.ts';
import type { DestinationReport } from '../../pipeline/synchronizer.ts';
import { Synchronizer, type SynchronizerOptions } from '../../pipeline/synchronizer.ts';
import { parseDuration } from '../../plan/duration.ts';
import type { PlanPorts } from '../ports.ts';
import { required } from '../ports.ts';
import { notReady, ready, type Readiness, type Runnable } from '../runnable.ts';

/** A pass at least this often, whatever arrives: retries of failed objects, commits whose messages were missed. */
const catchUpMs = 15_000;

export interface SyncStageOptions {
  onPass?: SynchronizerOptions['onPass'];
  /** The destination reconcile's report, every time one ran. */
  onDestinationReport?: (report: DestinationReport | { error: string }) => void;
}

export class SyncStage implements Runnable {
  readonly name = 'synchronizer';
  private readonly ports: PlanPorts;
  private readonly options: SyncStageOptions;
  private subscription: Subscription | undefined;
  private timers: NodeJS.Timeout[] = [];
  private reconcileTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reconciledOnce = false;
  private lastLagSeconds: number | undefined;
  /** Commits handed over in process (their stream messages, arriving later, are skipped). */
  private readonly handedOver = new Set<string>();
  synchronizer: Synchronizer | undefined;

  constructor(ports: PlanPorts, options: SyncStageOptions = {}) {
    this.ports = ports;
    this.options = options;
  }

  get consumer(): Subscription | undefined {
    return this.subscription;
  }

  /** From the source event to the destination apply, of the last object applied. */
  get lagSeconds(): number | undefined {
    return this.lastLagSeconds;
  }

  /**
   * The RPO right now: seconds since the source time of the oldest change committed and not yet applied at the
   * destination; 0 when caught up; undefined while this process does not synchronize the plan.
   */
  rpoSeconds(now = Date.now()): number | undefined {
    if (!this.synchronizer || this.stopped) return undefined;
    const oldest = this.synchronizer.oldestUnapplied();
    return oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000);
  }

  private createSynchronizer(): Synchronizer {
    const { name, compiled, mirror, state, metrics, log, plan } = this.ports;
    return new Synchronizer({
      // An apply retries transient failures for 10 s; after that the object is recorded as failed and retried with
      // the synchronizer's own backoff, so one stuck request never holds a pass for long.
      plan: name, mirrorDir: compiled.mirrorDir, repository: mirror, client: required(this.ports.destination, 'destination').withRetry({ windowMs: 10_000 }), state,
      identities: this.ports.identities, concurrency: plan.spec.sync.concurrency, log: log.child({ component: 'synchronizer' }), hold: plan.spec.recovery.hold,
      onApplied: (revision) => {
        metrics.lastApplied.set({ plan: name }, Date.now() / 1000);
        void state.recordAppliedAt(name, revision).catch(() => undefined);
      },
      onResult: (result, lagMs) => {
        metrics.applies.inc({ plan: name, action: result.action });
        if (result.action === 'failed') metrics.applyErrors.inc({ plan: name });
        if (lagMs !== undefined && result.action !== 'failed') {
          metrics.lag.observe({ plan: name }, lagMs / 1000);
          this.lastLagSeconds = lagMs / 1000;
        }
      },
      onPass: this.options.onPass,
    });
  }

  /** A pass now; resolves when it applied everything. */
  async sync(): Promise<void> {
    await this.synchronizer?.sync();
  }

  async start(): Promise<void> {
    const { bus, name, log, plan } = this.ports;
    this.stopped = false;
    this.reconciledOnce = false;
    // A new holder starts from what Redis says was applied: another process may have synchronized meanwhile.
    const synchronizer = this.createSynchronizer();
    this.synchronizer = synchronizer;
    synchronizer.prepare();
    if (this.ports.shortcuts) {
      this.ports.shortcuts.handOver = (message) => {
        if (this.stopped) return;
        this.handedOver.add(message.commit);
        if (this.handedOver.size > 10_000) this.handedOver.delete(this.handedOver.values().next().value!);
        void synchronizer.dispatch(message.observed ?? {}).catch(() => undefined);
      };
      this.ports.shortcuts.syncBacklog = () => (this.stopped ? undefined : synchronizer.backlog());
    }
    this.subscription = await bus.consume({
      stream: 'commits', plan: name, durable: 'synchronizer', maxMessages: 100,
      // A commit is acknowledged once its pass is planned: passes overlap, and a pass that fails is redone from the
      // applied commit in Redis by the next one.
      handle: async (messages) => {
        const observed: Record<string, number> = {};
        let fresh = false;
        for (const message of messages) {
          if (!isCommitMessage(message) || this.handedOver.delete(message.commit)) continue;
          fresh = true;
          for (const [path, at] of Object.entries(message.observed ?? {})) observed[path] = Math.min(observed[path] ?? at, at);
        }
        if (fresh) await synchronizer.dispatch(observed);
      },
      onError: (error) => log.warn({ err: error.message }, 'synchronizer error; retrying'),
      onDeadLetter: (message, error) => this.ports.deadLettered('synchronizer', message, error),
    });
    this.timers.push(setInterval(() => void synchronizer.sync().catch((error: Error) => log.warn({ err: error.message }, 'sync failed')), catchUpMs));
    // The first pass at once (what was committed while no process synchronized), then the destination compared.
    void synchronizer.sync().catch((error: Error) => log.warn({ err: error.message }, 'sync failed'))
      .then(() => this.reconcileLoop(parseDuration(plan.spec.reconcile.interval)));
  }

  private async reconcileLoop(intervalMs: number): Promise<void> {
    if (this.stopped) return;
    await this.reconcile().catch(() => undefined);
    this.reconciledOnce = true;
    if (!this.stopped) this.reconcileTimer = setTimeout(() => void this.reconcileLoop(intervalMs), intervalMs);
  }

  /** The destination half of a reconcile now (it waits for passes in flight; none starts while it runs). */
  async reconcile(): Promise<DestinationReport | { error: string }> {
    const synchronizer = this.synchronizer;
    if (!synchronizer) return { error: 'this process does not synchronize this plan' };
    const report = await synchronizer.reconcile(this.ports.plan.spec.reconcile.drift).catch((error: Error) => ({ error: error.message }));
    if ('error' in report) this.ports.log.warn({ err: report.error }, 'destination reconcile failed; retrying at the next interval');
    this.options.onDestinationReport?.(report);
    return report;
  }

  backlog(): number {
    return this.synchronizer?.backlog() ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach((timer) => clearInterval(timer));
    this.timers = [];
    clearTimeout(this.reconcileTimer);
    if (this.ports.shortcuts) {
      this.ports.shortcuts.handOver = undefined;
      this.ports.shortcuts.syncBacklog = undefined;
    }
    await this.subscription?.stop();
    this.subscription = undefined;
    this.synchronizer?.close();
    // Passes in flight finish (and are recorded) before the state store can close behind them; a destination that
    // does not answer holds the stop 10 s at most (what is not recorded is applied again by the next holder).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.synchronizer?.idle(), new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
  }

  readiness(): Readiness {
    if (!this.subscription) return notReady('synchronizer not consuming yet');
    return this.reconciledOnce ? ready : notReady('first destination reconcile in progress');
  }
}
