// The message bus between stages: NATS JetStream. Three streams — source events, processed objects, mirror
// commits — each with one subject per plan, so stages scale as durable consumers and a restarted stage resumes
// where it acknowledged. Publishing carries a de-duplication id; consuming acknowledges only after the handler
// succeeded and redelivers (with backoff) when it throws; a message that keeps failing is dead-lettered.
// A message larger than the server accepts travels by reference: its bytes go to LIFEBOAT_BLOBS in chunks, and the
// stage subject carries a small `bus.blob` reference that consume resolves before the handler sees it.
import { createHash } from 'node:crypto';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck, type StreamConfig, type StreamInfo,
} from '@nats-io/jetstream';
import { credentialsOf, redactUrl } from '../util/redact.ts';
import { parseJson, stringifyJson } from '../util/json.ts';

export const streams = {
  events: { name: 'LIFEBOAT_EVENTS', subject: 'lifeboat.events' },
  objects: { name: 'LIFEBOAT_OBJECTS', subject: 'lifeboat.objects' },
  commits: { name: 'LIFEBOAT_COMMITS', subject: 'lifeboat.commits' },
} as const;

export type StreamName = keyof typeof streams;

/**
 * Payloads of messages too large for one NATS message, one subject per chunk (`lifeboat.blobs.<plan>.<id>.<index>`,
 * the layout the object store uses underneath). Kept an hour longer than the stage streams keep the references.
 */
export const blobStream = { name: 'LIFEBOAT_BLOBS', subject: 'lifeboat.blobs' } as const;

/** How long a publish is retried while JetStream cannot acknowledge it (an election takes a few seconds). */
const publishRetryMs = 30_000;

/**
 * How long the streams' creation waits for a JetStream cluster to take them: its servers started together join in a
 * few seconds, and a lifeboat started with them (a pod beside a StatefulSet restarting) need not fail meanwhile.
 */
const streamsReadyMs = 30_000;

/** Errors of a JetStream without a leader for the stream just now, or of a connection between servers. */
export function transientPublishError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const text = `${error.name} ${error.message} ${(error.cause as Error | undefined)?.message ?? ''}`;
  return /no responders|timeout|timed out|jetstream is not enabled|not available|no suitable peers|503|leadership|disconnect|reconnect/i.test(text);
}

/**
 * Errors of creating or scaling a stream that a cluster still forming answers: those of a publish, and "insufficient
 * resources" (fewer servers with JetStream than replicas asked for, until the others join).
 */
function transientPlacementError(error: unknown): boolean {
  return transientPublishError(error) || (error instanceof Error && /insufficient resources/i.test(error.message));
}

/** Room left under the server's max_payload for headers (the de-duplication id) and the protocol line. */
const headroomBytes = 16 * 1024;

/** What a stage subject carries instead of a message larger than the server accepts. */
export interface BlobReference {
  type: 'bus.blob';
  /** The payload's sha256 (content address: a retried publish stores the same chunks under the same ids). */
  id: string;
  chunks: number;
  bytes: number;
  sha256: string;
}

export function isBlobReference(value: unknown): value is BlobReference {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return record.type === 'bus.blob' && typeof record.id === 'string' && /^[0-9a-f]{64}$/.test(record.id) && typeof record.sha256 === 'string'
    && Number.isInteger(record.chunks) && (record.chunks as number) > 0 && Number.isInteger(record.bytes);
}

/** A message that can never be handled (its blob expired or was purged, or is corrupt, or it is not JSON): dead-lettered at once. */
export class UnreadableMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableMessageError';
  }
}

/** nats.js takes credentials as options, not in the server URL: the servers without them, and the user and password. */
export function natsServers(url: string): { servers: string[]; user?: string; pass?: string } {
  const servers = url.split(',').map((server) => server.trim()).filter(Boolean);
  const credentials = servers.map(credentialsOf).find((found) => found !== undefined);
  return {
    servers: servers.map((server) => server.replace(/\/\/[^/@]*@/, '//')),
    ...(credentials ? { user: credentials.user, pass: credentials.password } : {}),
  };
}

export function subjectFor(stream: StreamName, plan: string): string {
  return `${streams[stream].subject}.${plan}`;
}

/** The name of a stage's durable consumer of a plan's subject (JetStream allows letters, digits, `_` and `-`). */
export function durableName(stage: string, plan: string): string {
  return `${stage}-${plan}`.replace(/[^A-Za-z0-9_-]/g, '_');
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
  /**
   * The handler acknowledges (or naks) the raw messages itself, e.g. after they were committed in a later batch. A
   * handler that throws must not have taken any of them: they are retried one by one like any other.
   */
  manualAck?: boolean;
  onError?: (error: Error) => void;
  /** Deliveries after which a message that still fails is terminated and reported (default 5). */
  maxDeliveries?: number;
  /**
   * A message given up on: delivered maxDeliveries times and failed each time, or unreadable. It is terminated (never
   * redelivered); `message` is what it carried (resolved when its blob could be read).
   */
  onDeadLetter?: (message: unknown, error: Error) => void;
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

  /**
   * Connects as the user the URL names (nats://USER:PASSWORD@HOST:PORT, several servers comma-separated), or says
   * in one line why not: unreachable, or credentials refused (the password masked).
   */
  static async connect(url: string, name = 'lifeboat', options: { replicas?: number } = {}): Promise<Bus> {
    let connection: NatsConnection;
    try {
      // noAsyncTraces: no Error (with its stack) captured per request; every publish is one, and they cost 4 % of
      // the CPU of an initial sync.
      connection = await connect({ ...natsServers(url), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
    } catch (error) {
      const reason = (error as Error).message;
      throw new Error(/authorization|authentication/i.test(reason)
        ? `NATS at ${redactUrl(url)} refused lifeboat's credentials: ${reason} (give the user and password in --nats or LIFEBOAT_NATS_URL: nats://USER:PASSWORD@HOST:PORT)`
        : `cannot reach NATS at ${redactUrl(url)}: ${reason} (set --nats or LIFEBOAT_NATS_URL)`, { cause: error });
    }
    // A bus that cannot be made closes its connection: one left open reconnects forever (maxReconnectAttempts -1)
    // and keeps the process that gave up on it alive.
    try {
      const bus = new Bus(connection, jetstream(connection), await jetstreamManager(connection));
      await bus.ensureStreams(options.replicas ?? bus.clusterReplicas(natsServers(url).servers.length));
      return bus;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * How many replicas the streams get: one per server of the cluster the connection joined (the servers it
   * announces, or the URL's list when longer), three at most (JetStream's own advice: more costs writes, not
   * safety); 1 on a server that is not clustered (JetStream refuses replicas there).
   */
  clusterReplicas(serversInUrl = 1): number {
    const info = this.connection.info;
    if (!info?.cluster) return 1;
    return Math.max(1, Math.min(3, Math.max(info.connect_urls?.length ?? 1, serversInUrl)));
  }

  /**
   * Creates the streams when missing (idempotent). Messages are kept a day; duplicates are dropped for 2 minutes.
   * Blobs are kept 25 hours (longer than any reference to them), the newest per chunk subject, read by direct get.
   * `replicas` copies of each stream on a cluster; a stream made with fewer (on a single server that became a
   * cluster) is scaled up to them, one made with more is left as it is (scaling down is an operator's decision).
   */
  async ensureStreams(replicas = 1): Promise<void> {
    const configs = [
      ...Object.values(streams).map((stream) => ({
        name: stream.name, subjects: [`${stream.subject}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File,
        max_age: nanos(24 * 3600_000), duplicate_window: nanos(120_000), num_replicas: replicas,
      })),
      {
        name: blobStream.name, subjects: [`${blobStream.subject}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File,
        max_age: nanos(25 * 3600_000), duplicate_window: nanos(120_000), max_msgs_per_subject: 1, allow_direct: true, num_replicas: replicas,
      },
    ];
    for (const config of configs) {
      try {
        await this.retrying(() => this.ensureStream(config, replicas), transientPlacementError, streamsReadyMs, () => 250);
      } catch (error) {
        // Still transient here means it lasted the whole wait: a cluster that does not form by itself.
        const waited = transientPlacementError(error) && !this.connection.isClosed() ? ` (still, after ${streamsReadyMs / 1000} s: are all the cluster's servers up?)` : '';
        throw new Error(`cannot create the JetStream stream ${config.name} with ${replicas} replica(s): ${(error as Error).message}${waited}`, { cause: error });
      }
    }
  }

  /** Creates one stream when it is not there (and only then), or scales it up to `replicas`. */
  private async ensureStream(config: Partial<StreamConfig> & { name: string }, replicas: number): Promise<void> {
    let existing: StreamInfo;
    try {
      existing = await this.jsm.streams.info(config.name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
      await this.jsm.streams.add(config);
      return;
    }
    if (existing.config.num_replicas < replicas) {
      await this.jsm.streams.update(config.name, { ...existing.config, num_replicas: replicas });
    }
  }

  /**
   * Runs `step` again while its error is `transient` (JetStream cannot do it yet but will: a leader being elected, a
   * cluster whose servers are still joining), for up to `retryMs` and while the connection is open, waiting
   * `delayMs(attempt)` between tries. Any other error, or one that lasts longer, is the caller's.
   */
  private async retrying<T>(step: () => Promise<T>, transient: (error: unknown) => boolean, retryMs: number, delayMs: (attempt: number) => number): Promise<T> {
    const deadline = Date.now() + retryMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (!transient(error) || Date.now() > deadline || this.connection.isClosed()) throw error;
        await new Promise((resolve) => setTimeout(resolve, delayMs(attempt)));
      }
    }
  }

  /** The largest message body published as itself: the server's announced max_payload less room for headers. */
  get maxMessageBytes(): number {
    return (this.connection.info?.max_payload ?? 1024 * 1024) - headroomBytes;
  }

  /** Publishes durably; resolves false when JetStream dropped it as a duplicate of a message it already has. */
  async publish(stream: StreamName, plan: string, message: unknown, dedupId?: string): Promise<boolean> {
    return this.publishSerialized(stream, plan, stringifyJson(message), dedupId);
  }

  /**
   * Like publish, for a message already serialized (batches are assembled from their items' JSON). A message over
   * maxMessageBytes is stored as a blob first and travels as a reference, with the same de-duplication id.
   */
  async publishSerialized(stream: StreamName, plan: string, json: string, dedupId?: string): Promise<boolean> {
    const body = Buffer.byteLength(json) > this.maxMessageBytes ? JSON.stringify(await this.storeBlob(plan, Buffer.from(json))) : json;
    const ack = await this.publishAcknowledged(subjectFor(stream, plan), body, dedupId);
    return !ack.duplicate;
  }

  /**
   * Publishes and waits for the stream's acknowledgement, trying again while nothing can acknowledge it: a stream
   * leader being elected (a server of the cluster died), or the connection moving to another server, answer "no
   * responders" or nothing at all for a few seconds. The de-duplication id makes a retried publish count once (a
   * message without one may be stored twice; every handler is idempotent). Any other error, or one that lasts
   * longer than `publishRetryMs`, is the caller's.
   */
  private async publishAcknowledged(subject: string, body: string | Uint8Array, dedupId: string | undefined): Promise<PubAck> {
    // 2 s per attempt: an acknowledgement lost with a dying server is asked for again soon, not after 5 s. Tried
    // again every 250 ms at most: the stream answers again the moment its new leader is elected (nats-server's Raft
    // waits 4-9 s for that), and each second of waiting past it is a second of lag at the stand-by.
    return this.retrying(() => this.js.publish(subject, body, { timeout: 2000, ...(dedupId ? { msgID: dedupId } : {}) }),
      transientPublishError, publishRetryMs, (attempt) => Math.min(50 * 2 ** attempt, 250));
  }

  /**
   * Stores a payload in LIFEBOAT_BLOBS, chunked to fit, and returns its reference. The de-duplication id names the
   * plan: two plans may carry the same bytes, each under its own subjects (purged with its plan).
   */
  async storeBlob(plan: string, data: Buffer): Promise<BlobReference> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const size = this.maxMessageBytes;
    const chunks = Math.max(1, Math.ceil(data.length / size));
    await Promise.all(Array.from({ length: chunks }, (_, index) => this.publishAcknowledged(
      `${blobStream.subject}.${plan}.${sha256}.${index}`, data.subarray(index * size, (index + 1) * size), `${plan}:${sha256}:${index}`)));
    return { type: 'bus.blob', id: sha256, chunks, bytes: data.length, sha256 };
  }

  /** The message a reference stands for (anything else is returned as is); UnreadableMessageError when its blob is gone or corrupt. */
  async resolve(plan: string, value: unknown): Promise<unknown> {
    if (!isBlobReference(value)) return value;
    const parts: Uint8Array[] = [];
    for (let index = 0; index < value.chunks; index++) {
      const subject = `${blobStream.subject}.${plan}.${value.id}.${index}`;
      const stored = await this.jsm.direct.getMessage(blobStream.name, { last_by_subj: subject });
      if (!stored) throw new UnreadableMessageError(`blob ${value.id} (${value.bytes} bytes) of plan ${plan} has no chunk ${index} in ${blobStream.name}: it expired or was purged`);
      parts.push(stored.data);
    }
    const data = Buffer.concat(parts);
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (data.length !== value.bytes || sha256 !== value.sha256) {
      throw new UnreadableMessageError(`blob ${value.id} of plan ${plan} is corrupt: ${data.length} bytes with sha256 ${sha256}, expected ${value.bytes} bytes with sha256 ${value.sha256}`);
    }
    try {
      return parseJson(data.toString('utf8'));
    } catch (error) {
      throw new UnreadableMessageError(`blob ${value.id} of plan ${plan} is not JSON: ${(error as Error).message}`);
    }
  }

  /** Consumes a plan's subject with a durable consumer; the returned subscription stops it. */
  async consume(options: ConsumeOptions): Promise<Subscription> {
    const stream = streams[options.stream];
    const durable = durableName(options.durable, options.plan);
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
    const maxDeliveries = options.maxDeliveries ?? 5;
    // Messages are queued as they arrive and handed to the handler in batches: everything that arrived while the
    // previous batch was being handled (at most maxMessages). One batch is handled at a time, in arrival order.
    const queue: JsMsg[] = [];
    let draining: Promise<void> | undefined;
    const deadLetter = (raw: JsMsg, message: unknown, error: Error) => {
      raw.term();
      try {
        options.onDeadLetter?.(message, error);
      } catch (reportError) {
        options.onError?.(reportError as Error);
      }
    };
    // A failed message is redelivered after 2, 4, 8, 16 s (30 s at most); the one that failed maxDeliveries times is
    // dead-lettered, so one object that cannot be handled never holds back the others, nor loops forever.
    const failed = (raw: JsMsg, message: unknown, error: Error) => {
      const deliveries = raw.info.deliveryCount;
      if (deliveries >= maxDeliveries) deadLetter(raw, message, new Error(`${error.message} (failed ${deliveries} deliveries)`, { cause: error }));
      else raw.nak(Math.min(2000 * 2 ** (deliveries - 1), 30_000));
    };
    /** The messages of a batch as the handler sees them: parsed, references resolved; the unreadable ones dead-lettered. */
    const read = async (batch: JsMsg[]): Promise<{ raw: JsMsg; message: unknown }[]> => {
      const out: { raw: JsMsg; message: unknown }[] = [];
      for (const raw of batch) {
        let message: unknown;
        try {
          message = parseJson(raw.string()); // integers beyond 2^53 as bigints, as the listener read them
        } catch (error) {
          deadLetter(raw, raw.string().slice(0, 200), new UnreadableMessageError(`message ${raw.seq} is not JSON: ${(error as Error).message}`));
          continue;
        }
        // Delivered again and again without an ack or a nak (a process that died handling it): give up on it.
        if (raw.info.deliveryCount > maxDeliveries) {
          deadLetter(raw, message, new Error(`delivered ${raw.info.deliveryCount} times without being acknowledged`));
          continue;
        }
        try {
          message = await this.resolve(options.plan, message);
        } catch (error) {
          if (error instanceof UnreadableMessageError) deadLetter(raw, message, error);
          else {
            options.onError?.(error as Error);
            failed(raw, message, error as Error);
          }
          continue;
        }
        out.push({ raw, message });
      }
      return out;
    };
    const settle = (entries: { raw: JsMsg }[]) => {
      if (!options.manualAck) for (const { raw } of entries) raw.ack();
    };
    const handleBatch = async (batch: JsMsg[]) => {
      const entries = await read(batch);
      if (entries.length === 0) return;
      try {
        await options.handle(entries.map((entry) => entry.message), entries.map((entry) => entry.raw));
        settle(entries);
        return;
      } catch (error) {
        options.onError?.(error as Error);
        if (entries.length === 1) {
          failed(entries[0]!.raw, entries[0]!.message, error as Error);
          return;
        }
      }
      // One by one, so only the message that fails is redelivered; the others are handled now. Handlers are
      // idempotent (what they publish carries de-duplication ids), so what the failed batch did is not done twice.
      let progressAt = Date.now();
      for (const [index, entry] of entries.entries()) {
        if (Date.now() - progressAt > 10_000) {
          for (const waiting of entries.slice(index)) waiting.raw.working();
          progressAt = Date.now();
        }
        try {
          await options.handle([entry.message], [entry.raw]);
          settle([entry]);
        } catch (error) {
          options.onError?.(error as Error);
          failed(entry.raw, entry.message, error as Error);
        }
      }
    };
    const drain = (): Promise<void> => {
      draining ??= (async () => {
        while (queue.length > 0) {
          const current = queue.splice(0, maxMessages);
          try {
            await handleBatch(current);
          } catch (error) {
            // Not the handler's (that is caught above): NATS failed under us. Redelivered after the ack wait.
            options.onError?.(error as Error);
          }
        }
      })().finally(() => (draining = undefined));
      return draining;
    };
    const loop = (async () => {
      while (!stopped) {
        try {
          // Pulls that expire after 3 s (heartbeats every 1.5 s): when the server holding them dies, or the consumer's
          // leader moves to another server, the loss is noticed in seconds and the pull made again, not after 30 s.
          // bind: after missed heartbeats the pull is made again at once. Without it the client first asks for the
          // consumer's info, which waits out the API timeout (5 s) while the consumer's Raft group has no leader and
          // then backs off. From the moment every stream and consumer had a leader again to lag under 1 s, after a
          // NATS leader's kill -9 (test/failure/clustered.test.ts): 0.0-4.0 s in seven kills with bind, 0.0-8.6 s in
          // four without. (The consumer is ours, made just before; no one else deletes it while the stage runs.)
          messages = await consumer.consume({ max_messages: maxMessages, expires: 3000, bind: true });
          for await (const message of messages) {
            // After stop the iterator still yields what it had buffered: hand those back at once, so they are
            // redelivered now instead of after the ack wait.
            if (stopped) {
              message.nak();
              continue;
            }
            queue.push(message);
            if (!draining) setImmediate(() => void drain().catch((error: Error) => options.onError?.(error)));
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

  /**
   * Messages a stage's durable consumer of a plan has not acknowledged yet (waiting or delivered), whichever process
   * consumes them; 0 when the consumer does not exist yet; undefined when JetStream does not answer.
   */
  async backlog(stream: StreamName, durable: string, plan: string): Promise<number | undefined> {
    try {
      const info = await this.jsm.consumers.info(streams[stream].name, durableName(durable, plan));
      return info.num_pending + info.num_ack_pending;
    } catch (error) {
      return (error as Error).name === 'ConsumerNotFoundError' || /consumer not found/i.test((error as Error).message) ? 0 : undefined;
    }
  }

  /** Deletes a plan's durable consumers and purges its messages and blobs from every stream (the plan is gone for good). */
  async removePlan(plan: string): Promise<void> {
    for (const [name, stream] of Object.entries(streams)) {
      const names: string[] = [];
      for await (const consumer of this.jsm.consumers.list(stream.name)) {
        if (consumer.config.filter_subject === subjectFor(name as StreamName, plan)) names.push(consumer.name);
      }
      for (const consumer of names) await this.jsm.consumers.delete(stream.name, consumer).catch(() => false);
      await this.jsm.streams.purge(stream.name, { filter: subjectFor(name as StreamName, plan) });
    }
    await this.jsm.streams.purge(blobStream.name, { filter: `${blobStream.subject}.${plan}.*.*` });
  }

  async close(): Promise<void> {
    await this.connection.drain().catch(() => this.connection.close());
  }
}
