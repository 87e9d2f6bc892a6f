// The listener: list+watch of every kind a plan selects in the source (read-only identity), published to the
// `events` stream with de-duplication ids. Each kind resumes from its resourceVersion checkpoint in Redis after a
// restart; a 410 Gone re-lists; server-side watch timeouts, bookmarks, reconnects with backoff and a watchdog keep
// a watch from ever stalling silently. Kinds that appear later (a new CRD) are picked up by periodic discovery.
// An object that cannot be published (it cannot be made safe, or the bus refuses it) is reported alone and skipped:
// the watch, and its checkpoint, move past it, and the reconciler offers it again once it can go through.
import type { IncomingMessage } from 'node:http';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { ResourceIndex, type ApiResource } from '../kube/discovery.ts';
import type { KubeObject } from '../kube/ref.ts';
import { parseJson } from '../util/json.ts';
import { mapLimit, nextTurn, Semaphore, sleep } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { isExcludedKind } from './exclusions.ts';
import { objectName } from './failures.ts';
import type { SourceEvent } from './messages.ts';
import { Stage, stageOf } from './order.ts';

export interface ListenerOptions {
  plan: string;
  client: KubeClient;
  selectsKind: (resource: ApiResource) => boolean;
  /** Objects worth publishing: in the plan's scope or able to enter it by a label change. */
  relevant: (object: KubeObject, resource: ApiResource) => boolean;
  checkpoints: {
    load(): Promise<Record<string, string>>;
    save(resource: string, resourceVersion: string): Promise<void>;
    clear(resource: string): Promise<void>;
  };
  /** Publishes events listed or watched together durably (resolves once JetStream has them all). */
  publish: (events: BuiltEvent[]) => Promise<void>;
  /** Makes an object safe to publish (encrypts Secret data); runs before anything leaves this process. */
  protect: (object: KubeObject) => Promise<KubeObject | undefined>;
  /** True when a namespace is being deleted (or is gone): its objects' deletes are marked for the delete guard. */
  namespaceTerminating?: (namespace: string) => Promise<boolean>;
  log: Logger;
  onEvent?: (type: SourceEvent['type'], resource: string) => void;
  /** An object skipped because it cannot be published (named `kind namespace/name`), and why. */
  onObjectFailed?: (object: string, reason: string) => void;
  /** An object published (or deleted): whatever failed for it before has cleared. */
  onObjectPublished?: (object: string) => void;
  /**
   * True when a publish failed because the bus refused that message (too large, over a stream's limits), not because
   * the bus is unreachable: the message's objects are then tried one by one, and the ones refused alone are skipped.
   */
  refused?: (error: Error) => boolean;
  /** Awaited before each page of an initial list: lets the work downstream catch up (bounded by the caller). */
  pace?: () => Promise<void>;
  watchTimeoutSeconds?: number;
  rediscoverMs?: number;
  listPageSize?: number;
}

const listsAtOnce = 4;

export const resourceId = (resource: ApiResource) => `${resource.group || 'core'}/${resource.version}/${resource.plural}`;

export function resourcePath(resource: ApiResource): string {
  return resource.group === '' ? `/api/${resource.version}/${resource.plural}` : `/apis/${resource.group}/${resource.version}/${resource.plural}`;
}

/** Drops what no stage needs before an object travels (managedFields are often most of its bytes). */
export function slim(object: KubeObject): KubeObject {
  const { managedFields: _managedFields, ...metadata } = object.metadata;
  return { ...object, metadata };
}

export interface BuiltEvent {
  event: SourceEvent;
  dedupId: string;
}

/** A watch that keeps failing (reconnecting with backoff), since when, and its latest error. */
export interface WatchFailure {
  resource: string;
  since: number;
  error: string;
}

/** What a delete needs to travel: the object's identity and labels, none of its data. */
function identityOf(object: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels } = object.metadata as KubeObject['metadata'] & { uid?: string; resourceVersion?: string };
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name, ...(namespace ? { namespace } : {}), ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}), ...(labels ? { labels } : {}) } };
}

/** The event for one source object (made safe by `protect` first) and its de-duplication id. */
export async function sourceEventOf(plan: string, resource: ApiResource, type: SourceEvent['type'], raw: KubeObject,
  protect: ListenerOptions['protect']): Promise<BuiltEvent | undefined> {
  const object = await protect(slim(raw));
  if (!object) return undefined;
  const event: SourceEvent = { type, plan, resource: { group: resource.group, version: resource.version, kind: resource.kind, namespaced: resource.namespaced }, object, observedAt: Date.now() };
  const metadata = raw.metadata as { uid?: string; resourceVersion?: string };
  return { event, dedupId: `${plan}:${metadata.uid ?? raw.metadata.name}:${metadata.resourceVersion ?? ''}:${type}` };
}

export class Listener {
  private readonly options: ListenerOptions;
  private readonly watchers = new Map<string, KindWatcher>();
  private stopped = false;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private initialSyncs = new Set<string>();
  /**
   * Lists running at once. All kinds listed together deliver their pages together, and the flood kept the first
   * commit (the Namespaces) and the first applies waiting for seconds; watches are not limited.
   */
  private readonly lists = new Semaphore(listsAtOnce);

  constructor(options: ListenerOptions) {
    this.options = options;
  }

  /** Resolves once every selected kind has finished its initial list (or resumed from a checkpoint). */
  async start(): Promise<void> {
    await this.rediscover();
    const schedule = () => {
      this.discoveryTimer = setTimeout(async () => {
        await this.rediscover().catch((error: Error) => this.options.log.warn({ err: error.message }, 'discovery failed; retrying'));
        if (!this.stopped) schedule();
      }, this.options.rediscoverMs ?? 15_000);
    };
    schedule();
    await Promise.all([...this.watchers.values()].map((watcher) => watcher.ready));
  }

  /** Kinds being watched, for status. */
  kinds(): string[] {
    return [...this.watchers.keys()].sort();
  }

  get initialSyncPending(): number {
    return this.initialSyncs.size;
  }

  /** Watches failing right now (each reconnects with backoff), oldest failure first. */
  failingWatches(): WatchFailure[] {
    return [...this.watchers.entries()].flatMap(([resource, watcher]) => (watcher.failing ? [{ resource, ...watcher.failing }] : [])).sort((a, b) => a.since - b.since);
  }

  private async rediscover(): Promise<void> {
    const index = await ResourceIndex.discover(this.options.client);
    const checkpoints = await this.options.checkpoints.load();
    const wanted = index.listWatchable().filter((resource) => !isExcludedKind(resource.group, resource.kind) && this.options.selectsKind(resource));
    // Namespaces and CRDs are listed (and so committed) first: what lives in them can be applied at once instead
    // of failing and waiting for a retry. A slow definitions list holds the others back by 10 s at most.
    const first = wanted.filter((resource) => stageOf(resource) === Stage.definitions);
    const started = (resources: ApiResource[]) => resources.flatMap((resource) => {
      const id = resourceId(resource);
      if (this.watchers.has(id) || this.stopped) return [];
      this.initialSyncs.add(id);
      const watcher = new KindWatcher(resource, checkpoints[id], this.options, this.lists, () => this.initialSyncs.delete(id));
      this.watchers.set(id, watcher);
      this.options.log.info({ resource: id, resumeFrom: checkpoints[id] ?? null }, checkpoints[id] ? 'resuming watch' : 'listing');
      watcher.run();
      return [watcher.ready];
    });
    const definitions = started(first);
    if (definitions.length) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(definitions), new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
    }
    started(wanted);
    const wantedIds = new Set(wanted.map(resourceId));
    for (const [id, watcher] of this.watchers) {
      if (!wantedIds.has(id)) {
        this.options.log.info({ resource: id }, 'kind no longer served or selected; stopping its watch');
        watcher.stop();
        this.watchers.delete(id);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.discoveryTimer);
    await Promise.all([...this.watchers.values()].map((watcher) => watcher.stop()));
  }
}

class KindWatcher {
  readonly ready: Promise<void>;
  private readonly lists: Semaphore;
  private markReady!: () => void;
  private readonly resource: ApiResource;
  private readonly id: string;
  private resourceVersion: string | undefined;
  private readonly options: ListenerOptions;
  private readonly onInitialSync: () => void;
  private stopped = false;
  private stream: IncomingMessage | undefined;
  private savedVersion: string | undefined;
  private savedAt = 0;
  private loop: Promise<void> | undefined;
  /** Set while this kind's list or watch keeps failing; cleared by the first events (or bookmark) handled. */
  failing: { since: number; error: string } | undefined;

  constructor(resource: ApiResource, checkpoint: string | undefined, options: ListenerOptions, lists: Semaphore, onInitialSync: () => void) {
    this.lists = lists;
    this.resource = resource;
    this.id = resourceId(resource);
    this.resourceVersion = checkpoint;
    this.options = options;
    this.onInitialSync = onInitialSync;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  run(): void {
    this.loop = this.runLoop();
  }

  private async runLoop(): Promise<void> {
    let backoff = 500;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.lists.run(() => this.list());
        this.initialSyncDone();
        if (this.stopped) break;
        await this.watch();
        backoff = 500;
      } catch (error) {
        if (this.stopped) break;
        this.failing = { since: this.failing?.since ?? Date.now(), error: (error as Error).message };
        if (error instanceof KubeError && (error.code === 410 || error.reason === 'Expired' || error.reason === 'Gone')) {
          this.options.log.info({ resource: this.id }, 'watch expired (410 Gone); re-listing');
          this.failing = undefined;
          this.resourceVersion = undefined;
          await this.options.checkpoints.clear(this.id);
          continue;
        }
        if (error instanceof KubeError && (error.code === 404 || error.code === 403)) {
          this.options.log.warn({ resource: this.id, err: error.message }, 'cannot list this kind; retrying later');
          this.initialSyncDone();
        } else {
          this.options.log.warn({ resource: this.id, err: (error as Error).message, retryInMs: backoff }, 'watch failed; reconnecting');
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private initialSyncDone(): void {
    this.onInitialSync();
    this.markReady();
  }

  /** The event for an object, or undefined when it is not published: out of scope, or reported as failing. */
  private async build(type: 'source.upserted' | 'source.deleted', raw: KubeObject): Promise<BuiltEvent | undefined> {
    let built: BuiltEvent | undefined;
    try {
      if (!this.options.relevant(raw, this.resource)) return undefined;
      built = await sourceEventOf(this.options.plan, this.resource, type, raw, this.options.protect);
    } catch (error) {
      if (type === 'source.upserted') {
        this.objectFailed(objectName(this.resource, raw.metadata), `cannot be published: ${(error as Error).message}`);
        return undefined;
      }
      // A delete needs none of the object's data: its identity goes through even when its content cannot.
      built = await sourceEventOf(this.options.plan, this.resource, type, identityOf(raw), async (object) => object);
    }
    if (!built) return undefined;
    const namespace = raw.metadata.namespace;
    if (built.event.type === 'source.deleted' && namespace && this.options.namespaceTerminating && (await this.options.namespaceTerminating(namespace))) built.event.namespaceTerminating = true;
    return built;
  }

  /** Events that arrived together travel together: one JetStream message per batch, not one per object. */
  private async emit(events: { type: 'source.upserted' | 'source.deleted'; object: KubeObject }[]): Promise<void> {
    const built = (await mapLimit(events, 64, ({ type, object }) => this.build(type, object))).filter((event) => event !== undefined);
    if (built.length === 0) return;
    for (const { event } of await this.publishIsolating(built)) {
      this.options.onObjectPublished?.(objectName(event.resource, event.object.metadata));
      this.options.onEvent?.(event.type, this.id);
      this.options.log.debug({ type: event.type, resource: this.id, name: event.object.metadata.name, namespace: event.object.metadata.namespace }, 'source event');
    }
  }

  private objectFailed(object: string, reason: string): void {
    this.options.log.warn({ resource: this.id, object, reason }, 'object skipped: it cannot be published (the others go on)');
    this.options.onObjectFailed?.(object, reason);
  }

  /**
   * Publishes events; when the bus refuses the message carrying them, each is tried alone and those it still refuses
   * are reported and skipped (a delete goes through as its identity). Any other failure (the bus unreachable) throws:
   * the watch resumes before these events. Resolves with the events published.
   */
  private async publishIsolating(built: BuiltEvent[]): Promise<BuiltEvent[]> {
    try {
      await this.options.publish(built);
      return built;
    } catch (error) {
      if (!this.refused(error)) throw error;
    }
    const published = await mapLimit(built, 16, (one) => this.publishAlone(one));
    return published.filter((one) => one !== undefined);
  }

  private async publishAlone(one: BuiltEvent): Promise<BuiltEvent | undefined> {
    const attempts = one.event.type === 'source.deleted' ? [one, { ...one, event: { ...one.event, object: identityOf(one.event.object) } }] : [one];
    let refusal: unknown;
    for (const attempt of attempts) {
      try {
        await this.options.publish([attempt]);
        return attempt;
      } catch (error) {
        if (!this.refused(error)) throw error;
        refusal ??= error;
      }
    }
    this.objectFailed(objectName(one.event.resource, one.event.object.metadata), `cannot be published: ${(refusal as Error).message}`);
    return undefined;
  }

  private refused(error: unknown): boolean {
    return error instanceof Error && (this.options.refused?.(error) ?? false);
  }

  private async list(): Promise<void> {
    let listVersion: string | undefined;
    for await (const page of this.options.client.listPages(resourcePath(this.resource), this.resource, {}, this.options.listPageSize ?? 500)) {
      if (this.stopped) return;
      listVersion ??= page.resourceVersion;
      await nextTurn(); // pages of every kind arrive together: let other work in between
      await this.options.pace?.();
      await this.emit(page.items.map((object) => ({ type: 'source.upserted' as const, object })));
    }
    this.resourceVersion = listVersion;
    this.failing = undefined;
    if (listVersion) await this.options.checkpoints.save(this.id, listVersion);
  }

  /** One watch request: ends normally when the server closes it (timeoutSeconds) or the watchdog fires. */
  private async watch(): Promise<void> {
    const timeoutSeconds = (this.options.watchTimeoutSeconds ?? 240) + Math.floor(Math.random() * 60);
    const stream = await this.options.client.stream(resourcePath(this.resource), {
      query: { watch: true, allowWatchBookmarks: true, resourceVersion: this.resourceVersion, timeoutSeconds }, timeoutMs: (timeoutSeconds + 30) * 1000,
    });
    this.stream = stream;
    if (this.stopped) stream.destroy();
    let buffer = '';
    let failure: Error | undefined;
    let pending: string[] = [];
    let draining: Promise<void> | undefined;
    // Events that arrive together are published together (one round of JetStream acks, one checkpoint), and only
    // the newest event of each object in such a group is kept: it carries the object's latest state.
    const drain = () => {
      draining ??= (async () => {
        while (pending.length > 0 && !failure) {
          const lines = pending;
          pending = [];
          try {
            await this.handleMany(lines);
          } catch (error) {
            failure ??= error as Error;
            stream.destroy();
          }
        }
      })().finally(() => (draining = undefined));
      return draining;
    };
    // Watchdog: bookmarks arrive about once a minute even when nothing changes; silence beyond the timeout means a
    // half-open connection, so the request timeout above destroys the socket and the loop reconnects.
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim()) pending.push(line);
        }
        void drain();
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', (error) => {
        failure ??= new KubeError(`watch ${this.id}: ${error.message}`, 0, 'ConnectionError');
        resolve();
      });
    });
    while (draining) await draining;
    await this.saveCheckpoint(true);
    this.stream = undefined;
    if (failure) throw failure;
    this.failing = undefined;
  }

  private async handleMany(lines: string[]): Promise<void> {
    const latest = new Map<string, { type: 'source.upserted' | 'source.deleted'; object: KubeObject }>();
    // The resume point moves only once these events are published: a failed publish (NATS down) is watched again.
    let newest = this.resourceVersion;
    for (const line of lines) {
      const event = parseJson(line) as { type: string; object: KubeObject & { code?: number; reason?: string; message?: string } };
      if (event.type === 'ERROR') {
        const status = event.object;
        throw new KubeError(`watch ${this.id}: ${status.message ?? 'error'}`, status.code ?? 500, status.reason ?? 'WatchError');
      }
      const metadata = event.object.metadata as { resourceVersion?: string; uid?: string; namespace?: string; name?: string };
      if (metadata.resourceVersion) newest = metadata.resourceVersion;
      if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') continue; // BOOKMARK
      const key = metadata.uid ?? `${metadata.namespace}/${metadata.name}`;
      latest.delete(key); // keep arrival order of the newest events
      latest.set(key, { type: event.type === 'DELETED' ? 'source.deleted' : 'source.upserted', object: event.object });
    }
    await this.emit([...latest.values()]);
    this.failing = undefined;
    this.resourceVersion = newest;
    await this.saveCheckpoint(false);
  }

  /** Checkpoints at most once a second while events flow, and always when a watch ends. */
  private async saveCheckpoint(force: boolean): Promise<void> {
    if (!this.resourceVersion || this.resourceVersion === this.savedVersion) return;
    if (!force && Date.now() - this.savedAt < 1000) return;
    this.savedAt = Date.now();
    this.savedVersion = this.resourceVersion;
    await this.options.checkpoints.save(this.id, this.resourceVersion);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.destroy();
    this.markReady();
    await this.loop;
  }
}
