// Processor: source events → destination form → objects stream. Replicas (several processes) share one durable
// consumer; each object message carries its source resourceVersion, so the mirror writer keeps the newest whatever
// the order replicas publish in. An object the processor fails on becomes an `object.failed` message (logged by the
// mirror writer): the others of its batch go on.
import type { Subscription } from '../../bus/bus.ts';
import type { KubeObject } from '../../kube/ref.ts';
import { FailureStage, objectName } from '../../pipeline/failures.ts';
import { serializeBatches, sourceEventsOf, type ObjectMessage, type SourceEvent } from '../../pipeline/messages.ts';
import { processEvent } from '../../pipeline/processor.ts';
import { nextTurn } from '../../util/limit.ts';
import type { PlanPorts } from '../ports.ts';
import { notReady, ready, type Readiness, type Runnable } from '../runnable.ts';
import { batchBytes } from './limits.ts';

export class ProcessorStage implements Runnable {
  readonly name = 'processor';
  private readonly ports: PlanPorts;
  private subscription: Subscription | undefined;

  constructor(ports: PlanPorts) {
    this.ports = ports;
  }

  get consumer(): Subscription | undefined {
    return this.subscription;
  }

  private processed(event: SourceEvent): ObjectMessage | undefined {
    const { compiled, failures, name } = this.ports;
    // The object may be what made processing fail (no metadata at all): name it as far as it can be named.
    const object = objectName(event.resource, event.object.metadata as Partial<KubeObject['metadata']> | undefined);
    let out: ObjectMessage | undefined;
    try {
      out = processEvent(event, compiled);
    } catch (error) {
      out = { type: 'object.failed', plan: name, summary: object, reason: `processing failed: ${(error as Error).message}`, observedAt: event.observedAt };
    }
    if (out?.type === 'object.failed') this.ports.objectFailed(FailureStage.processor, object, out.reason);
    else failures.clear(FailureStage.processor, object);
    return out;
  }

  async start(): Promise<void> {
    const { bus, name, metrics, log } = this.ports;
    const maxBytes = batchBytes(bus);
    this.subscription = await bus.consume({
      stream: 'events', plan: name, durable: 'processor', maxMessages: 500,
      handle: async (messages, raws) => {
        log.debug({ component: 'processor', messages: messages.length }, 'processing');
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
            const out = this.processed(event);
            metrics.objects.inc({ plan: name, outcome: out?.type ?? 'skipped' });
            if (out) outs.push({ json: JSON.stringify(out), id: `${name}:${raws[index]!.seq}${outs.length ? `:${outs.length}` : ''}` });
          }
          for (const batch of serializeBatches('object.batch', name, 'messages', outs, (out) => out, maxBytes)) {
            publishing.push(bus.publishSerialized('objects', name, batch.json, batch.dedupId).then(() => undefined, (error: Error) => {
              failure ??= error;
            }));
          }
        }
        await Promise.all(publishing);
        if (failure) throw failure;
      },
      onError: (error) => log.warn({ err: error.message }, 'processor error; retrying'),
      onDeadLetter: (message, error) => this.ports.deadLettered('processor', message, error),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  readiness(): Readiness {
    return this.subscription ? ready : notReady('processor not consuming yet');
  }
}
