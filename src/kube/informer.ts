// A level cache of one resource in one namespace: list, then watch from the list's resourceVersion; a 410 Gone
// (or an ERROR event) lists again, a broken or ended watch reconnects with backoff (the listener's rules, without its
// publishing). Callers read `objects()` and are told, coalesced, that something changed: they derive what to do
// from the cache, never from the events.
import type { IncomingMessage } from 'node:http';
import { parseJson } from '../util/json.ts';
import { sleep } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { KubeError, type KubeClient } from './client.ts';
import type { KubeObject } from './ref.ts';


export interface InformerOptions {
  client: KubeClient;
  /** The collection's REST path: `/apis/lifeboat.dev/v1alpha1/namespaces/NS/recoveryplans`. */
  path: string;
  type: { group: string; version: string; kind: string };
  log: Logger;
  /** Something in the cache changed (an object added, modified, deleted, or a new list). */
  onChange: () => void;
  watchTimeoutSeconds?: number;
  /** Keys of the cache: `name` (one namespace, the default) or `namespace/name` (a collection of every namespace). */
  keyBy?: 'name' | 'namespace/name';
}

export class Informer {
  private readonly options: InformerOptions;
  private readonly cache = new Map<string, KubeObject>();
  private resourceVersion: string | undefined;
  private stream: IncomingMessage | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private synced!: () => void;
  /** True once the first list is in the cache. */
  listed = false;
  /** Resolves after the first list (or at stop). */
  readonly ready: Promise<void>;
  /** The latest list or watch failure, until the next success. */
  failing: { since: number; error: string } | undefined;

  constructor(options: InformerOptions) {
    this.options = options;
    this.ready = new Promise((resolve) => (this.synced = resolve));
  }

  private keyOf(object: KubeObject): string {
    const name = object.metadata.name ?? '';
    return this.options.keyBy === 'namespace/name' ? `${object.metadata.namespace ?? ''}/${name}` : name;
  }

  /** The cached objects by name (or namespace/name: `keyBy`). */
  objects(): ReadonlyMap<string, KubeObject> {
    return this.cache;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let backoff = 500;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.list();
        await this.watch();
        backoff = 500;
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof KubeError && (error.code === 410 || error.reason === 'Expired' || error.reason === 'Gone')) {
          this.options.log.info({ path: this.options.path }, 'watch expired (410 Gone); listing again');
          this.resourceVersion = undefined;
          continue;
        }
        this.failing = { since: this.failing?.since ?? Date.now(), error: (error as Error).message };
        this.options.log.warn({ path: this.options.path, err: (error as Error).message, retryInMs: backoff }, 'list or watch failed; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async list(): Promise<void> {
    const listed = new Map<string, KubeObject>();
    let version: string | undefined;
    for await (const page of this.options.client.listPages(this.options.path, this.options.type)) {
      version ??= page.resourceVersion;
      for (const item of page.items) listed.set(this.keyOf(item), item);
    }
    this.cache.clear();
    for (const [name, object] of listed) this.cache.set(name, object);
    this.resourceVersion = version;
    this.failing = undefined;
    this.listed = true;
    this.synced();
    this.options.onChange();
  }

  /** One watch request, until the server ends it (timeoutSeconds) or it breaks. */
  private async watch(): Promise<void> {
    const timeoutSeconds = (this.options.watchTimeoutSeconds ?? 240) + Math.floor(Math.random() * 60);
    const stream = await this.options.client.stream(this.options.path, {
      query: { watch: true, allowWatchBookmarks: true, resourceVersion: this.resourceVersion, timeoutSeconds }, timeoutMs: (timeoutSeconds + 30) * 1000,
    });
    this.stream = stream;
    let buffer = '';
    let failure: Error | undefined;
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let newline: number;
        let changed = false;
        while ((newline = buffer.indexOf('\n')) >= 0 && !failure) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line.trim()) continue;
          try {
            changed = this.handle(line) || changed;
          } catch (error) {
            failure = error as Error;
            stream.destroy();
          }
        }
        if (changed) this.options.onChange();
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', (error) => {
        failure ??= new KubeError(`watch ${this.options.path}: ${error.message}`, 0, 'ConnectionError');
        resolve();
      });
    });
    this.stream = undefined;
    if (failure) throw failure;
    this.failing = undefined;
  }

  /** Applies one watch event to the cache; true when an object changed. */
  private handle(line: string): boolean {
    const event = parseJson(line) as { type: string; object: KubeObject & { code?: number; reason?: string; message?: string } };
    if (event.type === 'ERROR') {
      const status = event.object;
      throw new KubeError(`watch ${this.options.path}: ${status.message ?? 'error'}`, status.code ?? 500, status.reason ?? 'WatchError');
    }
    const version = (event.object.metadata as { resourceVersion?: string }).resourceVersion;
    if (version) this.resourceVersion = version;
    const object = { ...event.object, apiVersion: event.object.apiVersion ?? `${this.options.type.group}/${this.options.type.version}`, kind: event.object.kind ?? this.options.type.kind };
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.cache.set(this.keyOf(object), object);
        return true;
      case 'DELETED':
        return this.cache.delete(this.keyOf(object));
      default:
        return false; // BOOKMARK
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.destroy();
    this.synced();
    await this.loop;
  }
}
