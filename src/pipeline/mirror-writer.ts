// The mirror writer: gathers processed objects for `commitInterval` (or up to `maxBatch`) and writes them as one
// commit with a summary line, one line per object and trailers. Messages are acknowledged only after their commit
// exists, so a crash loses nothing (they are redelivered, and re-applying them makes no commit: same bytes). A
// Secret whose keyed hash did not change keeps the ciphertext already committed (age is randomized).
import type { JsMsg } from '@nats-io/jetstream';
import { commitMessage, type FileChange, type MirrorRepository } from '../mirror/repository.ts';
import type { Logger } from '../util/log.ts';
import type { CommitMessage, ObjectMessage } from './messages.ts';
import { dataHashAnnotation } from './secrets.ts';

export interface MirrorWriterOptions {
  plan: string;
  mirrorDir: string;
  repository: MirrorRepository;
  commitIntervalMs: number;
  maxBatch: number;
  trailers: () => Record<string, string>;
  publishCommit: (message: CommitMessage) => Promise<void>;
  onCommit?: (result: { commit: string; created: number; updated: number; deleted: number; durationMs: number }) => void;
  onFailed?: (message: Extract<ObjectMessage, { type: 'object.failed' }>) => void;
  log: Logger;
}

interface Pending {
  message: ObjectMessage;
  raw: JsMsg | undefined;
}

export class MirrorWriter {
  private readonly options: MirrorWriterOptions;
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private batchNumber = 0;
  /** Messages acknowledged after their commit (or after it was found unnecessary), for progress and readiness. */
  committedMessages = 0;
  /** Keyed hashes of the Secrets at the mirror head, by path, loaded lazily. */
  private secretHashes: Map<string, string> | undefined;

  constructor(options: MirrorWriterOptions) {
    this.options = options;
  }

  /** Adds messages to the current batch; their raw messages are acknowledged once committed. */
  add(messages: ObjectMessage[], raws: (JsMsg | undefined)[] = []): void {
    messages.forEach((message, index) => this.pending.push({ message, raw: raws[index] }));
    // Group commit: while a commit is being written, arrivals wait and all go into the next one.
    if (this.inFlight > 0) return;
    if (this.pending.length >= this.options.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.commitIntervalMs);
  }

  get queued(): number {
    return this.pending.length;
  }

  /** True while a commit is being written. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /**
   * Commits what is pending now (up to maxBatch); when that commit is done, whatever arrived meanwhile is
   * committed right away, so under load batches grow instead of queueing behind one another.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight > 0) return this.flushing;
    const batch = this.pending.splice(0, this.options.maxBatch);
    if (batch.length === 0) return this.flushing;
    this.inFlight++;
    this.flushing = this.commit(batch).catch((error: Error) => {
      this.options.log.error({ err: error.message, objects: batch.length }, 'mirror commit failed; the batch will be redelivered');
      for (const entry of batch) entry.raw?.nak(2000);
    }).finally(() => {
      this.inFlight--;
      if (this.pending.length > 0) void this.flush();
    });
    return this.flushing;
  }

  private async loadSecretHashes(): Promise<Map<string, string>> {
    if (this.secretHashes) return this.secretHashes;
    const hashes = new Map<string, string>();
    const head = await this.options.repository.head();
    for (const [path, oid] of await this.options.repository.files(head, this.options.mirrorDir)) {
      if (!path.includes('/Secret/')) continue;
      const match = new RegExp(`${dataHashAnnotation.replace(/[./]/g, '\\$&')}: (\\S+)`).exec(await this.options.repository.readText(oid));
      if (match?.[1]) hashes.set(path, match[1]);
    }
    this.secretHashes = hashes;
    return hashes;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = Date.now();
    // The last message for a path wins; the earliest observation time is kept for the lag measurement.
    const latest = new Map<string, Extract<ObjectMessage, { type: 'object.changed' | 'object.deleted' }>>();
    const observed: Record<string, number> = {};
    for (const { message } of batch) {
      if (message.type === 'object.failed') {
        this.options.onFailed?.(message);
        continue;
      }
      latest.set(message.path, message);
      observed[message.path] = Math.min(observed[message.path] ?? Infinity, message.observedAt);
    }
    const hashes = await this.loadSecretHashes();
    const changes: FileChange[] = [];
    const summaries = new Map<string, string>();
    for (const [path, message] of latest) {
      summaries.set(path, message.summary);
      if (message.type === 'object.deleted') changes.push({ path, content: null });
      else if (!(message.secretHash && hashes.get(path) === message.secretHash)) changes.push({ path, content: message.content });
    }
    const batchId = `${this.options.plan}-${Date.now().toString(36)}-${++this.batchNumber}`;
    const result = changes.length ? await this.options.repository.commit(changes, (applied) => this.message(applied, summaries, batchId)) : undefined;
    for (const entry of batch) entry.raw?.ack();
    this.committedMessages += batch.length;
    if (!result) return;
    for (const change of result.changes) {
      if (change.type === 'deleted') hashes.delete(change.path);
      else {
        const message = latest.get(change.path);
        if (message?.type === 'object.changed' && message.secretHash) hashes.set(change.path, message.secretHash);
      }
    }
    const head = (await this.options.repository.head()) ?? result.oid;
    const counts = { created: 0, updated: 0, deleted: 0 };
    for (const change of result.changes) counts[change.type]++;
    await this.options.publishCommit({
      type: 'mirror.committed', plan: this.options.plan, commit: head,
      observed: Object.fromEntries(result.changes.map((change) => [change.path, observed[change.path] ?? Date.now()])),
    });
    this.options.onCommit?.({ commit: head, ...counts, durationMs: Date.now() - started });
    this.options.log.info({ commit: head.slice(0, 12), ...counts, ms: Date.now() - started }, 'committed');
  }

  /** `sync(shop): 2 updated, 1 created`, one line per object, then the trailers. */
  private message(changes: { path: string; type: string }[], summaries: Map<string, string>, batchId: string): string {
    const counts = { created: 0, updated: 0, deleted: 0 } as Record<string, number>;
    for (const change of changes) counts[change.type] = (counts[change.type] ?? 0) + 1;
    const parts = (['updated', 'created', 'deleted'] as const).filter((type) => counts[type]).map((type) => `${counts[type]} ${type}`);
    return commitMessage(
      `sync(${this.options.plan}): ${parts.join(', ')}`,
      changes.map((change) => `${change.type} ${summaries.get(change.path) ?? change.path}`),
      { ...this.options.trailers(), Batch: batchId },
    );
  }

  async stop(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight > 0) await this.flush();
  }
}
