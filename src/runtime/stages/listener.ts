// Listener: lists and watches the source's selected kinds, publishes events to the events stream and keeps watch
// checkpoints in Redis. One per plan across every process (the runner wraps it in a lease); a new holder resumes
// from the checkpoints the previous one saved.
import { FailureStage } from '../../pipeline/failures.ts';
import type { Stall } from '../../pipeline/failures.ts';
import { Listener, type BuiltEvent } from '../../pipeline/listener.ts';
import { serializeBatches } from '../../pipeline/messages.ts';
import { stringifyJson } from '../../util/json.ts';
import { sleep } from '../../util/limit.ts';
import type { PlanPorts } from '../ports.ts';
import { required } from '../ports.ts';
import { notReady, ready, type Readiness, type Runnable } from '../runnable.ts';
import { batchBytes, refusedByBus } from './limits.ts';
import { NamespaceStates, sourceScope } from './source-scope.ts';

/** Objects the synchronizer may have queued before an initial list waits for it (about 3 s of applies). */
const paceBacklog = 1500;
/**
 * How long a watch may keep failing before the plan counts as stalled (status, /readyz, lifeboat_stalled): longer
 * than a NATS or API server restart takes, and than two of the listener's reconnects at its longest backoff.
 */
const watchStallMs = 60_000;

export class ListenerStage implements Runnable {
  readonly name = 'listener';
  private readonly ports: PlanPorts;
  private listener: Listener | undefined;
  private listed = false;
  private stopped = false;

  constructor(ports: PlanPorts) {
    this.ports = ports;
  }

  get kinds(): string[] {
    return this.listener?.kinds() ?? [];
  }

  get initialListDone(): boolean {
    return this.listed;
  }

  private create(): Listener {
    const { name, bus, state, metrics, log, failures } = this.ports;
    const client = required(this.ports.source, 'source');
    const scope = sourceScope(this.ports);
    const terminating = new NamespaceStates(client);
    const maxBytes = batchBytes(bus);
    let paceBudgetMs = 60_000;
    return new Listener({
      plan: name, client, log: log.child({ component: 'listener' }),
      selectsKind: scope.selectsKind, relevant: scope.relevant, protect: scope.protect,
      checkpoints: {
        load: () => state.checkpoints(name),
        save: (resource, version) => state.saveCheckpoint(name, resource, version),
        clear: (resource) => state.clearCheckpoint(name, resource),
      },
      // Progress counts what JetStream stored: a re-listed object it already has (same de-duplication id) is dropped.
      publish: async (events) => {
        const serialize = ({ event, dedupId }: BuiltEvent) => ({ json: stringifyJson(event), id: dedupId });
        await Promise.all(serializeBatches('source.batch', name, 'events', events, serialize, maxBytes).map(async (batch) => {
          await bus.publishSerialized('events', name, batch.json, batch.dedupId);
        }));
      },
      namespaceTerminating: (namespace) => terminating.check(namespace),
      onEvent: (type) => metrics.events.inc({ plan: name, type }),
      onObjectFailed: (object, reason) => this.ports.objectFailed(FailureStage.listener, object, reason),
      onObjectPublished: (object) => failures.clear(FailureStage.listener, object),
      refused: refusedByBus,
      // While this process also synchronizes, an initial list waits (up to a second a page, a minute in all) when
      // the synchronizer has more than `paceBacklog` objects to apply: the destination starts work while the source
      // is still being listed, instead of after every page was listed, encrypted and committed on the same event
      // loop. The minute keeps a paged list well inside the API server's compaction interval (its continue token
      // expires with the snapshot it pages through).
      pace: async () => {
        const started = Date.now();
        const until = started + Math.min(1000, paceBudgetMs);
        while ((this.ports.shortcuts?.syncBacklog?.() ?? 0) > paceBacklog && Date.now() < until) await sleep(20);
        paceBudgetMs -= Date.now() - started;
      },
    });
  }

  /** Starts listing in the background; a failure to start (discovery refused) is retried with backoff. */
  async start(): Promise<void> {
    this.stopped = false;
    this.listed = false;
    void this.run();
  }

  private async run(): Promise<void> {
    const { log, state, name } = this.ports;
    // Until this listener has listed, nobody may take the source for listed (a reconciler, a synchronizer's readiness).
    await state.setValue(name, 'listed-at', '').catch(() => undefined);
    for (let attempt = 1; !this.stopped; attempt++) {
      const listener = this.create();
      this.listener = listener;
      const started = Date.now();
      try {
        await listener.start();
      } catch (error) {
        await listener.stop();
        const waitMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
        log.warn({ err: (error as Error).message, attempt, retryInSeconds: waitMs / 1000 }, 'listener failed to start; retrying');
        for (let waited = 0; waited < waitMs && !this.stopped; waited += 200) await sleep(200);
        continue;
      }
      if (this.stopped) return;
      this.listed = true;
      log.info({ kinds: listener.kinds().length, seconds: (Date.now() - started) / 1000 }, 'initial list done');
      // For a reconciler in another process: the source has been listed into the pipeline at least once.
      await state.setValue(name, 'listed-at', new Date().toISOString()).catch(() => undefined);
      return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.listener?.stop();
  }

  stalls(): Stall[] {
    const stalls: Stall[] = [];
    for (const watch of this.listener?.failingWatches() ?? []) {
      if (Date.now() - watch.since < watchStallMs) continue;
      stalls.push({ component: 'listener', summary: `watch of ${watch.resource} failing`, error: watch.error, since: new Date(watch.since).toISOString() });
    }
    return stalls;
  }

  readiness(): Readiness {
    const stall = this.stalls()[0];
    if (stall) return notReady(`${stall.summary} since ${stall.since}: ${stall.error}`);
    return this.listed ? ready : notReady('listing the source');
  }
}
