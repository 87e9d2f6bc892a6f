// The mirror writer: gathers processed objects for `commitInterval` (or up to `maxBatch`) and writes them as one
// commit with a summary line, one line per object and trailers. Messages are acknowledged only after their commit
// exists, so a crash loses nothing (they are redelivered, and re-applying them makes no commit: same bytes). A
// Secret whose keyed hash did not change keeps the ciphertext already committed (age is randomized).
import { commitMessage, type FileChange, type MirrorRepository } from '../mirror/repository.ts';
import type { Logger } from '../util/log.ts';
import { olderVersion, type CommitMessage, type ObjectMessage } from './messages.ts';
import type { KubeObject } from '../kube/ref.ts';
import { toYaml } from './normalize.ts';
import { DeleteGuard, type GuardPolicy, type HeldDelete } from './delete-guard.ts';
import { dataHashAnnotation, keepPreviousCiphertext } from './secrets.ts';
import { parseYaml } from '../util/yaml.ts';

export interface MirrorWriterOptions {
  plan: string;
  mirrorDir: string;
  repository: MirrorRepository;
  commitIntervalMs: number;
  maxBatch: number;
  trailers: () => Record<string, string>;
  publishCommit: (message: CommitMessage) => Promise<unknown>;
  onCommit?: (result: { commit: string; created: number; updated: number; deleted: number; durationMs: number }) => void;
  onFailed?: (message: Extract<ObjectMessage, { type: 'object.failed' }>) => void;
  /** The delete guard's policy and where held and rejected deletes are kept (Redis). */
  guard?: GuardPolicy;
  decisions?: DeleteDecisions;
  onHeld?: (held: HeldDelete[], total: number) => void;
  /** Paths whose capture is paused (after a rollback or revert, until `lifeboat resume`). */
  paused?: () => Promise<Set<string>>;
  /** The source resourceVersion last committed per path (Redis), so that no older version is committed after it. */
  versions?: CommittedVersions;
  log: Logger;
}

export interface CommittedVersions {
  load(): Promise<Map<string, string>>;
  record(versions: Map<string, string>): Promise<void>;
}

export interface DeleteDecisions {
  held(): Promise<HeldDelete[]>;
  hold(entries: HeldDelete[]): Promise<void>;
  rejected(): Promise<Set<string>>;
  /** The objects exist again in the source: forget that their deletes were held or rejected. */
  clear(paths: string[]): Promise<void>;
}

/** What the writer does with a message's JetStream delivery: a JsMsg, or a share of one carrying a batch. */
export interface Acknowledgeable {
  ack(): void;
  nak(millis?: number): void;
  working(): void;
}

/**
 * One share per object of a JetStream message carrying `parts` objects: the message is acknowledged once every part
 * is committed (a batch may span two commits), and redelivered whole as soon as one part fails.
 */
export function sharedAck(raw: Acknowledgeable, parts: number): Acknowledgeable {
  let remaining = parts;
  let settled = false;
  return {
    ack: () => {
      if (settled || --remaining > 0) return;
      settled = true;
      raw.ack();
    },
    nak: (millis) => {
      if (settled) return;
      settled = true;
      raw.nak(millis);
    },
    working: () => {
      if (!settled) raw.working();
    },
  };
}

interface Pending {
  message: ObjectMessage;
  raw: Acknowledgeable | undefined;
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
  /** Messages of the commit being written (they too wait for their ack). */
  private writing: Pending[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly guard: DeleteGuard | undefined;
  /** Objects of the plan at the mirror head (for the guard's percentage), loaded lazily. */
  private objects: number | undefined;
  /** Paths whose deletes are held; refreshed from Redis when a batch has deletes (approvals change it). */
  private held = new Set<string>();
  /** Paths whose deletes a person rejected, cached with `held`. */
  private rejected = new Set<string>();
  private decisionsLoaded = false;
  /** Source resourceVersion committed per path (loaded from `versions` with the first batch). */
  private committedVersions: Map<string, string> | undefined;
  /**
   * Set while commits fail (a read-only or full disk, a broken repository): nothing of the plan can move on, so
   * status and /readyz say so. Cleared by the next batch that goes through.
   */
  failure: { since: number; error: string; code: string | undefined } | undefined;

  constructor(options: MirrorWriterOptions) {
    this.options = options;
    // A backlog can hold messages longer than JetStream's ack wait; tell it they are being worked on, so they are
    // not redelivered (and committed twice) while they wait for their turn.
    this.heartbeat = setInterval(() => {
      for (const entry of [...this.writing, ...this.pending]) entry.raw?.working();
    }, 10_000);
    this.heartbeat.unref();
    this.guard = options.guard ? new DeleteGuard(options.guard) : undefined;
  }

  /** Adds messages to the current batch; their raw messages are acknowledged once committed. */
  add(messages: ObjectMessage[], raws: (Acknowledgeable | undefined)[] = []): void {
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
    this.writing = batch;
    this.flushing = this.commit(batch).then(() => {
      this.failure = undefined;
    }, (error: NodeJS.ErrnoException) => {
      this.failure = { since: this.failure?.since ?? Date.now(), error: error.message, code: error.code };
      this.options.log.error({ err: error.message, objects: batch.length }, 'mirror commit failed; the batch will be redelivered');
      for (const entry of batch) entry.raw?.nak(2000);
    }).finally(() => {
      this.inFlight--;
      this.writing = [];
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
    // The newest message for a path wins (by source resourceVersion, then arrival): processor replicas publish in
    // any order, so an older version may arrive last. The earliest observation time is kept for the lag.
    this.committedVersions ??= (await this.options.versions?.load()) ?? new Map<string, string>();
    const committedVersions = this.committedVersions;
    const latest = new Map<string, Extract<ObjectMessage, { type: 'object.changed' | 'object.deleted' }>>();
    const observed: Record<string, number> = {};
    let stale = 0;
    for (const { message } of batch) {
      if (message.type === 'object.failed') {
        this.options.onFailed?.(message);
        continue;
      }
      const known = latest.get(message.path)?.sourceVersion ?? committedVersions.get(message.path);
      if (olderVersion(message.sourceVersion, known)) {
        stale++;
        continue;
      }
      latest.set(message.path, message);
      observed[message.path] = Math.min(observed[message.path] ?? Infinity, message.observedAt);
    }
    if (stale) this.options.log.debug({ messages: stale }, 'older versions of objects already committed in a newer version: dropped');
    // A rollback or revert pauses capture of the objects it restored, so the next source event does not undo it.
    const paused = (await this.options.paused?.()) ?? new Set<string>();
    const skipped = [...latest.keys()].filter((path) => paused.has(path));
    for (const path of skipped) latest.delete(path);
    if (skipped.length) this.options.log.info({ objects: skipped.length }, 'capture paused for these objects (lifeboat resume); source changes not committed');
    const hashes = await this.loadSecretHashes();
    const changes: FileChange[] = [];
    const summaries = new Map<string, string>();
    const head = await this.options.repository.head();
    const allowed = await this.guardDeletes(head, [...latest.values()]);
    for (const [path, message] of latest) {
      summaries.set(path, message.summary);
      if (message.type === 'object.deleted') {
        if (allowed.has(path)) changes.push({ path, content: null });
      } else if (message.secretHash && hashes.get(path) === message.secretHash) {
        // Same plaintext: keep the committed ciphertext (age is randomized), so only real changes (labels…) commit.
        const oid = head && (await this.options.repository.oidAt(head, path));
        const previous = oid ? (parseYaml(await this.options.repository.readText(oid)) as KubeObject) : undefined;
        changes.push({ path, content: toYaml(keepPreviousCiphertext(parseYaml(message.content) as KubeObject, previous)) });
      } else changes.push({ path, content: message.content });
    }
    // Recorded before the commit: should this writer die between the two, the next one still drops an older message
    // (one redelivered, or never delivered to this writer). A commit that then fails is redelivered with the same
    // versions, which are not older, so it is committed after all.
    const versions = new Map([...latest].filter(([path, message]) => message.sourceVersion && !skipped.includes(path)).map(([path, message]) => [path, message.sourceVersion!]));
    await this.options.versions?.record(versions);
    for (const [path, version] of versions) committedVersions.set(path, version);
    const batchId = `${this.options.plan}-${Date.now().toString(36)}-${++this.batchNumber}`;
    const result = changes.length ? await this.options.repository.commit(changes, (applied) => this.message(applied, summaries, batchId)) : undefined;
    for (const entry of batch) entry.raw?.ack();
    this.committedMessages += batch.length;
    if (!result) return;
    const deleted = result.changes.filter((change) => change.type === 'deleted').length;
    this.guard?.committed(deleted);
    if (this.objects !== undefined) this.objects += result.changes.filter((change) => change.type === 'created').length - deleted;
    for (const change of result.changes) {
      if (change.type === 'deleted') hashes.delete(change.path);
      else {
        const message = latest.get(change.path);
        if (message?.type === 'object.changed' && message.secretHash) hashes.set(change.path, message.secretHash);
      }
    }
    const committed = (await this.options.repository.head()) ?? result.oid;
    const counts = { created: 0, updated: 0, deleted: 0 };
    for (const change of result.changes) counts[change.type]++;
    await this.options.publishCommit({
      type: 'mirror.committed', plan: this.options.plan, commit: committed,
      observed: Object.fromEntries(result.changes.map((change) => [change.path, observed[change.path] ?? Date.now()])),
    });
    this.options.onCommit?.({ commit: committed, ...counts, durationMs: Date.now() - started });
    this.options.log.info({ commit: committed.slice(0, 12), ...counts, ms: Date.now() - started }, 'committed');
  }

  /**
   * The deletes of a batch the guard lets through; the others are held (kept in Redis for `lifeboat deletes`) or
   * dropped (rejected earlier). A change for a path whose delete was held or rejected clears that decision.
   */
  private async guardDeletes(head: string | undefined, messages: Extract<ObjectMessage, { type: 'object.changed' | 'object.deleted' }>[]): Promise<Set<string>> {
    const deletes = messages.filter((message) => message.type === 'object.deleted');
    const allowed = new Set(deletes.map((message) => message.path));
    const { guard, options: { decisions } } = this;
    if (!guard || !decisions) return allowed;
    // Decisions live in Redis (`lifeboat deletes` changes them); they are read again only when they can matter: on
    // the first batch, for a batch with deletes, and while deletes are held (approvals and rejections arrive then).
    if (!this.decisionsLoaded || deletes.length > 0 || this.held.size > 0) {
      const [held, rejected] = await Promise.all([decisions.held(), decisions.rejected()]);
      this.held = new Set(held.map((entry) => entry.path));
      this.rejected = rejected;
      this.decisionsLoaded = true;
    }
    const recreated = messages.filter((message) => message.type === 'object.changed' && (this.held.has(message.path) || this.rejected.has(message.path))).map((message) => message.path);
    if (recreated.length) {
      await decisions.clear(recreated);
      for (const path of recreated) {
        this.held.delete(path);
        this.rejected.delete(path);
      }
    }
    if (deletes.length === 0) return allowed;
    // Only objects the mirror has can be deleted; deletes of anything else change nothing and are not judged.
    const present = head ? await Promise.all(deletes.map(async (message) => (await this.options.repository.oidAt(head, message.path)) !== undefined)) : deletes.map(() => false);
    const candidates = deletes.filter((_, index) => present[index]);
    this.objects ??= (await this.options.repository.files(head, this.options.mirrorDir)).size;
    const decision = guard.decide(candidates, { objects: this.objects, held: this.held, rejected: this.rejected });
    for (const path of [...decision.hold.map((entry) => entry.path), ...decision.drop]) allowed.delete(path);
    if (decision.hold.length) {
      await decisions.hold(decision.hold);
      for (const entry of decision.hold) this.held.add(entry.path);
      this.options.log.warn({ held: decision.hold.length, total: this.held.size, reason: decision.hold[0]!.reason }, 'deletes held by the delete guard; approve or reject them with `lifeboat deletes`');
      this.options.onHeld?.(decision.hold, this.held.size);
    }
    if (decision.drop.length) this.options.log.info({ deletes: decision.drop.length }, 'deletes rejected earlier were not committed');
    const approved = deletes.filter((message) => message.approved).map((message) => message.path);
    if (approved.length) this.held = new Set([...this.held].filter((path) => !approved.includes(path)));
    return allowed;
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
    clearInterval(this.heartbeat);
  }
}
