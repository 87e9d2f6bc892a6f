// The message bus between stages: NATS JetStream. Three streams — source events, processed objects, mirror
// commits — each with one subject per plan, so stages scale as durable consumers and a restarted stage resumes
// where it acknowledged. Publishing carries a de-duplication id; consuming acknowledges only after the handler
// succeeded and redelivers (with backoff) when it throws.
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType,
  type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg,
} from '@nats-io/jetstream';

export const streams = {
  events: { name: 'LIFEBOAT_EVENTS', subject: 'lifeboat.events' },
  objects: { name: 'LIFEBOAT_OBJECTS', subject: 'lifeboat.objects' },
  commits: { name: 'LIFEBOAT_COMMITS', subject: 'lifeboat.commits' },
} as const;

export type StreamName = keyof typeof streams;

export function subjectFor(stream: StreamName, plan: string): string {
  return `${streams[stream].subject}.${plan}`;
}

export interface ConsumeOptions {
  stream: StreamName;
  plan: string;
  /** Durable consumer name: one per stage and plan, shared by every replica of that stage. */
  durable: string;
  maxMessages?: number;
  ackWaitMs?: number;
  /** Called with a batch of messages that arrived together (at most maxMessages); ack happens after it resolves. */
  handle: (messages: unknown[], raw: JsMsg[]) => Promise<void>;
  /** The handler acknowledges (or naks) the raw messages itself, e.g. after they were committed in a later batch. */
  manualAck?: boolean;
  onError?: (error: Error) => void;
}

export interface Subscription {
  stop(): Promise<void>;
  /** Messages delivered but not yet acknowledged, plus those waiting in the stream for this consumer. */
  pending(): Promise<number>;
}

export class Bus {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;

  private constructor(connection: NatsConnection, js: JetStreamClient, jsm: JetStreamManager) {
    this.connection = connection;
    this.js = js;
    this.jsm = jsm;
  }

  static async connect(url: string, name = 'lifeboat'): Promise<Bus> {
    let connection: NatsConnection;
    try {
      // noAsyncTraces: no Error (with its stack) captured per request; every publish is one, and they cost 4 % of
      // the CPU of an initial sync.
      connection = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
    } catch (error) {
      throw new Error(`cannot reach NATS at ${url}: ${(error as Error).message} (set --nats or LIFEBOAT_NATS_URL)`, { cause: error });
    }
    const bus = new Bus(connection, jetstream(connection), await jetstreamManager(connection));
    await bus.ensureStreams();
    return bus;
  }

  /** Creates the streams when missing (idempotent). Messages are kept a day; duplicates are dropped for 2 minutes. */
  async ensureStreams(): Promise<void> {
    for (const stream of Object.values(streams)) {
      const config = {
        name: stream.name, subjects: [`${stream.subject}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File,
        max_age: nanos(24 * 3600_000), duplicate_window: nanos(120_000),
      };
      try {
        await this.jsm.streams.info(stream.name);
      } catch {
        await this.jsm.streams.add(config);
      }
    }
  }

  /** Publishes durably; resolves false when JetStream dropped it as a duplicate of a message it already has. */
  async publish(stream: StreamName, plan: string, message: unknown, dedupId?: string): Promise<boolean> {
    return this.publishSerialized(stream, plan, JSON.stringify(message), dedupId);
  }

  /** Like publish, for a message already serialized (batches are assembled from their items' JSON). */
  async publishSerialized(stream: StreamName, plan: string, json: string, dedupId?: string): Promise<boolean> {
    const ack = await this.js.publish(subjectFor(stream, plan), json, dedupId ? { msgID: dedupId } : undefined);
    return !ack.duplicate;
  }

  /** Consumes a plan's subject with a durable consumer; the returned subscription stops it. */
  async consume(options: ConsumeOptions): Promise<Subscription> {
    const stream = streams[options.stream];
    const durable = `${options.durable}-${options.plan}`.replace(/[^A-Za-z0-9_-]/g, '_');
    try {
      await this.jsm.consumers.info(stream.name, durable);
    } catch {
      await this.jsm.consumers.add(stream.name, {
        durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
        filter_subject: subjectFor(options.stream, options.plan), ack_wait: nanos(options.ackWaitMs ?? 30_000), max_ack_pending: 20_000,
      });
    }
    const consumer = await this.js.consumers.get(stream.name, durable);
    let stopped = false;
    let messages: ConsumerMessages | undefined;
    const maxMessages = options.maxMessages ?? 500;
    // Messages are queued as they arrive and handed to the handler in batches: everything that arrived while the
    // previous batch was being handled (at most maxMessages). One batch is handled at a time, in arrival order.
    const queue: JsMsg[] = [];
    let attempt = 0;
    let draining: Promise<void> | undefined;
    const drain = (): Promise<void> => {
      draining ??= (async () => {
        while (queue.length > 0) {
          const current = queue.splice(0, maxMessages);
          try {
            await options.handle(current.map((m) => m.json()), current);
            if (!options.manualAck) for (const m of current) m.ack();
            attempt = 0;
          } catch (error) {
            options.onError?.(error as Error);
            attempt++;
            const delay = Math.min(500 * 2 ** attempt, 30_000);
            for (const m of current) m.nak(delay);
          }
        }
      })().finally(() => (draining = undefined));
      return draining;
    };
    const loop = (async () => {
      while (!stopped) {
        try {
          messages = await consumer.consume({ max_messages: maxMessages });
          for await (const message of messages) {
            // After stop the iterator still yields what it had buffered: hand those back at once, so they are
            // redelivered now instead of after the ack wait.
            if (stopped) {
              message.nak();
              continue;
            }
            queue.push(message);
            if (!draining) setImmediate(() => void drain());
          }
        } catch (error) {
          if (stopped) break;
          options.onError?.(error as Error);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
      await draining;
    })();
    return {
      stop: async () => {
        stopped = true;
        messages?.stop();
        await loop;
        // Handed back: whatever arrived but was not handled is redelivered at once (to another process, or later).
        for (const message of queue.splice(0)) message.nak();
      },
      pending: async () => {
        const info = await consumer.info().catch(() => undefined);
        return info ? info.num_pending + info.num_ack_pending : 0;
      },
    };
  }

  /** Deletes a plan's durable consumers and purges its messages from every stream (the plan is gone for good). */
  async removePlan(plan: string): Promise<void> {
    for (const [name, stream] of Object.entries(streams)) {
      const names: string[] = [];
      for await (const consumer of this.jsm.consumers.list(stream.name)) {
        if (consumer.config.filter_subject === subjectFor(name as StreamName, plan)) names.push(consumer.name);
      }
      for (const consumer of names) await this.jsm.consumers.delete(stream.name, consumer).catch(() => false);
      await this.jsm.streams.purge(stream.name, { filter: subjectFor(name as StreamName, plan) });
    }
  }

  async close(): Promise<void> {
    await this.connection.drain().catch(() => this.connection.close());
  }
}
