// Follows each ConfigMap change of the lag phase through the pipeline: sent to the source, published by the
// listener (events subject), by the processor (objects subject), committed by the mirror writer (commits subject),
// and seen in the destination (a watch). The streams are read with ordered consumers of the plan's subjects (the
// bus's users may not subscribe to stage subjects, only consume them), which never touch lifeboat's durable
// consumers; a message counts at the time JetStream stored it, not when the bench read it. A stage that shows value v of a ConfigMap also accounts
// for every earlier change of it (a later value supersedes an earlier one). A commit is matched to its changes by
// the listener's observation time, which the event and the commit's `observed` map both carry.
import { performance } from 'node:perf_hooks';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { streams, subjectFor, type Bus, type StreamName } from '../src/bus/bus.ts';
import { refFromMirrorPath } from '../src/kube/ref.ts';
import { objectMessagesOf, sourceEventsOf } from '../src/pipeline/messages.ts';
import { distribution, type Distribution } from './report.ts';

type Stage = 'sourceWatch' | 'event' | 'object' | 'applied';

interface Change {
  key: string;
  seq: number;
  sentAt: number;
  patchedAt?: number;
  sourceWatch?: number;
  event?: number;
  /** The listener's observation time (epoch ms), as carried in the event and in the commit's `observed`. */
  observedAt?: number;
  object?: number;
  commit?: number;
  applied?: number;
}

export interface StageBreakdown {
  /** sent → source PATCH answered */
  sourceWriteMs: Distribution;
  /** sent → a watch of the bench on the source showed the change (source write + source watch delivery) */
  sourceWatchMs: Distribution;
  /** the bench's source watch → the listener published the event (listener's watch, encryption, publish) */
  listenerMs: Distribution;
  /** event → the processor published the destination form */
  processorMs: Distribution;
  /** object → the mirror writer published the commit (batching interval + git commit) */
  mirrorMs: Distribution;
  /** commit → the destination watch showed the value (synchronizer pass + apply + destination watch) */
  synchronizerMs: Distribution;
}

export class ChangeTracker {
  private readonly byKey = new Map<string, Change[]>();
  private readonly done: Change[] = [];
  private readonly readers: ConsumerMessages[] = [];
  private outstandingCount = 0;

  /** Reads the plan's subjects from now on; call (and await) before the first change. */
  async follow(bus: Bus, plan: string): Promise<void> {
    const decode = (data: Uint8Array) => JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
    const read = async (stream: StreamName, handle: (message: Record<string, unknown>, at: number) => void) => {
      const consumer = await bus.js.consumers.get(streams[stream].name, { filter_subjects: [subjectFor(stream, plan)], deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume();
      this.readers.push(messages);
      void (async () => {
        for await (const message of messages) {
          // JetStream's store time, on this process's performance.now() clock.
          const at = Number(message.info.timestampNanos) / 1e6 - performance.timeOrigin;
          try {
            handle(decode(message.data), at);
          } catch {
            // not a message of this tracker's kind (a blob reference, say): the stage stays unmeasured for it
          }
        }
      })();
    };
    await read('events', (message, at) => {
      for (const event of sourceEventsOf(message)) {
        const object = event.object as { metadata: { namespace?: string; name?: string }; kind?: string; data?: Record<string, string> };
        if (object.kind !== 'ConfigMap') continue;
        const key = `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
        const value = Number(object.data?.['bench-counter']);
        this.reached('event', key, value, at);
        const change = this.byKey.get(key)?.find((candidate) => candidate.seq === value);
        if (change) change.observedAt ??= event.observedAt;
      }
    });
    await read('objects', (message, at) => {
      for (const object of objectMessagesOf(message)) {
        if (object.type !== 'object.changed' || !object.path.includes('/ConfigMap/')) continue;
        const value = /bench-counter: "?(\d+)"?/.exec(object.content)?.[1];
        const key = keyOfPath(object.path);
        if (key && value) this.reached('object', key, Number(value), at);
      }
    });
    await read('commits', (message, at) => {
      const commit = message as { observed?: Record<string, number> };
      // A commit names, per path, the listener's observation time of the first change of its batch: that change is
      // in this commit (and any earlier one of the same ConfigMap is committed or superseded by now).
      for (const [path, observedAt] of Object.entries(commit.observed ?? {})) {
        const key = path.includes('/ConfigMap/') ? keyOfPath(path) : undefined;
        const list = key ? this.byKey.get(key) : undefined;
        const first = list?.find((change) => change.observedAt === observedAt);
        if (!list || !first) continue;
        for (const change of list) {
          if (change.seq > first.seq) break;
          change.commit ??= at;
        }
      }
    });
  }

  /** Registers a change about to be sent. */
  sent(key: string, seq: number, sentAt: number): Change {
    const change: Change = { key, seq, sentAt };
    const list = this.byKey.get(key) ?? [];
    list.push(change);
    this.byKey.set(key, list);
    this.outstandingCount++;
    return change;
  }

  /** The change could not be sent: forget it. */
  failed(key: string, change: Change): void {
    const list = this.byKey.get(key) ?? [];
    const index = list.indexOf(change);
    if (index >= 0) {
      list.splice(index, 1);
      this.outstandingCount--;
    }
  }

  /** The bench's own source watch shows `value` for the ConfigMap `key`. */
  inSource(key: string, value: number, at: number): void {
    this.reached('sourceWatch', key, value, at);
  }

  /** The destination shows `value` for the ConfigMap `key`. */
  applied(key: string, value: number, at: number): void {
    this.reached('applied', key, value, at);
    const list = this.byKey.get(key);
    if (!list) return;
    while (list.length && list[0]!.applied !== undefined) {
      this.done.push(list.shift()!);
      this.outstandingCount--;
    }
  }

  private reached(stage: Stage, key: string, value: number, at: number): void {
    if (!Number.isFinite(value)) return;
    for (const change of this.byKey.get(key) ?? []) {
      if (change.seq > value) break;
      change[stage] ??= at;
    }
  }

  get outstanding(): number {
    return this.outstandingCount;
  }

  get seen(): number {
    return this.done.length;
  }

  /** End-to-end lags (ms) of every change, Infinity for those never seen in the destination. */
  endToEnd(): number[] {
    const unseen = [...this.byKey.values()].flat().length;
    return [...this.done.map((change) => change.applied! - change.sentAt), ...Array.from({ length: unseen }, () => Infinity)];
  }

  breakdown(): StageBreakdown {
    const span = (from: (change: Change) => number | undefined, to: (change: Change) => number | undefined) => distribution(this.done.flatMap((change) => {
      const [start, end] = [from(change), to(change)];
      return start !== undefined && end !== undefined ? [Math.max(0, end - start)] : [];
    }));
    return {
      sourceWriteMs: span((c) => c.sentAt, (c) => c.patchedAt),
      sourceWatchMs: span((c) => c.sentAt, (c) => c.sourceWatch),
      listenerMs: span((c) => c.sourceWatch, (c) => c.event),
      processorMs: span((c) => c.event, (c) => c.object),
      mirrorMs: span((c) => c.object, (c) => c.commit),
      synchronizerMs: span((c) => c.commit, (c) => c.applied),
    };
  }

  /** Every change with its stage times (ms since the first change was sent), for --trace. */
  records(): Record<string, number | string | undefined>[] {
    const all = [...this.done, ...[...this.byKey.values()].flat()].sort((a, b) => a.seq - b.seq);
    const origin = all[0]?.sentAt ?? 0;
    const at = (value: number | undefined) => value === undefined ? undefined : Math.round((value - origin) * 10) / 10;
    return all.map((change) => ({
      seq: change.seq, key: change.key, sent: at(change.sentAt), patched: at(change.patchedAt), sourceWatch: at(change.sourceWatch), event: at(change.event),
      object: at(change.object), commit: at(change.commit), applied: at(change.applied),
    }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.readers.splice(0).map((messages) => messages.close().catch(() => undefined)));
  }
}

function keyOfPath(path: string): string | undefined {
  try {
    const { ref } = refFromMirrorPath(path);
    return `${ref.namespace ?? ''}/${ref.name}`;
  } catch {
    return undefined;
  }
}
