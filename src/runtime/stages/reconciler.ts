// Reconciler (the source half): on start, once the source has been listed into the pipeline, and then every
// `reconcile.interval`, the source is listed again and what the mirror misses is published (src/pipeline/
// reconciler.ts). One per plan across every process (the runner wraps it in a lease). A plan whose mirror had no
// file when this stage started skips the first one: the listener's initial list was the whole source, and an empty
// mirror has nothing it could have missed or kept too long (a second list would only cost the source's API server
// and this process a full pass over every object, in the middle of the initial sync).
import { FailureStage } from '../../pipeline/failures.ts';
import { Reconciler, type SourceReport } from '../../pipeline/reconciler.ts';
import { parseDuration } from '../../plan/duration.ts';
import { sleep } from '../../util/limit.ts';
import type { PlanPorts } from '../ports.ts';
import { required } from '../ports.ts';
import { notReady, ready, type Readiness, type Runnable } from '../runnable.ts';
import { refusedByBus } from './limits.ts';
import { sourceScope } from './source-scope.ts';

export interface ReconcilerStageOptions {
  /**
   * Resolves when the pipeline has taken in the source's initial list (nothing of it still on its way to the
   * mirror), so the first reconcile does not republish what is merely in flight. In one process: the runner's
   * counters; apart: the listener's `listed-at` mark and empty processor and mirror backlogs in JetStream.
   */
  settled: (stopped: () => boolean) => Promise<void>;
  onReport?: (report: SourceReport | { error: string }) => void;
}

export class ReconcilerStage implements Runnable {
  readonly name = 'reconciler';
  private readonly ports: PlanPorts;
  private readonly options: ReconcilerStageOptions;
  private reconciler: Reconciler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reconciledOnce = false;
  private running: Promise<unknown> = Promise.resolve();

  constructor(ports: PlanPorts, options: ReconcilerStageOptions) {
    this.ports = ports;
    this.options = options;
  }

  async start(): Promise<void> {
    const { name, plan, compiled, mirror, bus, log, failures } = this.ports;
    this.stopped = false;
    this.reconciledOnce = false;
    const scope = sourceScope(this.ports);
    this.reconciler = new Reconciler({
      compiled, client: required(this.ports.source, 'source'), repository: mirror, ...scope,
      recipients: plan.spec.secrets.recipients, hashKey: this.ports.hashKey,
      // An object the listener would skip is reported the same way: after a restart it is named again here.
      onObjectFailed: (object, reason) => this.ports.objectFailed(FailureStage.listener, object, reason),
      refused: refusedByBus,
      onSourceListed: (objects, listedFrom) => failures.retain(objects, listedFrom),
      publishEvent: async (event, dedupId) => void (await bus.publish('events', name, event, dedupId)),
      publishObject: async (message, dedupId) => void (await bus.publish('objects', name, message, dedupId)),
      log: log.child({ component: 'reconciler' }),
    });
    const intervalMs = parseDuration(plan.spec.reconcile.interval);
    // The head the emptiness was read at (undefined: no commit yet), or false: not empty, or it cannot tell.
    let skipFirst = await emptyMirrorHead(this.ports);
    const loop = async () => {
      if (this.stopped) return;
      if (skipFirst !== false) {
        const revision = skipFirst.head;
        skipFirst = false;
        const skipped = 'the mirror was empty at start: the initial list covered the whole source';
        log.info({ component: 'reconciler', nextInMs: intervalMs }, `first reconcile of the source skipped: ${skipped}`);
        this.options.onReport?.({ revision, listed: 0, changed: [], deleted: [], failedKinds: [], durationMs: 0, skipped });
      } else await this.reconcile();
      this.reconciledOnce = true;
      if (!this.stopped) this.timer = setTimeout(() => void loop(), intervalMs);
    };
    void this.options.settled(() => this.stopped).then(loop);
  }

  /** The source half of a reconcile now. */
  reconcile(): Promise<SourceReport | { error: string }> {
    const reconciler = this.reconciler;
    if (!reconciler) return Promise.resolve({ error: 'this process does not reconcile this plan\'s source' });
    const run = this.running.then(() => reconciler.reconcileSource()).catch((error: Error) => {
      this.ports.log.warn({ err: error.message }, 'reconcile failed; retrying at the next interval');
      return { error: error.message };
    });
    this.running = run;
    return run.then((report) => {
      this.options.onReport?.(report);
      return report;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }

  readiness(): Readiness {
    return this.reconciledOnce ? ready : notReady('first reconcile in progress');
  }
}

/** The mirror's head when it has no file of the plan there (a plan starting for the first time), else false. */
async function emptyMirrorHead(ports: PlanPorts): Promise<{ head: string | undefined } | false> {
  try {
    const head = await ports.mirror.head();
    return head === undefined || (await ports.mirror.files(head, ports.compiled.mirrorDir)).size === 0 ? { head } : false;
  } catch {
    return false; // cannot tell: reconcile
  }
}

/** Apart from the listener and mirror writer: wait for the listener's mark and empty backlogs (checked every second). */
export function settledThroughBus(ports: PlanPorts): (stopped: () => boolean) => Promise<void> {
  return async (stopped) => {
    const { bus, state, name } = ports;
    while (!stopped()) {
      const listed = await state.getValue(name, 'listed-at').catch(() => undefined);
      if (listed) {
        const [events, objects] = await Promise.all([bus.backlog('events', 'processor', name), bus.backlog('objects', 'mirror', name)]);
        if (events === 0 && objects === 0) return;
      }
      await sleep(1000);
    }
  };
}
