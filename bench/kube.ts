// Kubernetes helpers for the benchmark: bounded parallelism, retries, paginated lists, namespace set-up and
// tear-down, and a list+watch that timestamps every object the moment its event arrives.
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { KubeError, type KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/ref.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `action` over `items` with at most `limit` in flight; results in input order. Stops early when aborted. */
/**
 * Calls `send(index)` `count` times, the i-th at `started + i / rate` seconds, with at most `maxInFlight` unfinished
 * (a slow server holds the sender back instead of piling up requests); resolves when every call has finished. `send`
 * handles its own errors. Stops sending when `signal` aborts.
 */
export async function paced(count: number, rate: number, maxInFlight: number, signal: AbortSignal, send: (index: number) => Promise<unknown>, started = performance.now()): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let index = 0; index < count && !signal.aborted; index++) {
    const wait = started + (index * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const request: Promise<unknown> = send(index).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, action: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const index = next++;
      results[index] = await action(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}


/** Every item of a collection, following `continue` tokens. */
export async function listAll<T = KubeObject>(client: KubeClient, path: string, query: Record<string, string> = {}): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  let continueToken: string | undefined;
  let resourceVersion = '';
  do {
    const page = await client.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>('GET', path, undefined, { query: { ...query, limit: 1000, continue: continueToken } });
    resourceVersion ||= page.metadata.resourceVersion;
    items.push(...page.items);
    continueToken = page.metadata.continue || undefined;
  } while (continueToken);
  return { items, resourceVersion };
}

export async function createNamespaces(client: KubeClient, names: readonly string[], labels: Record<string, string>, concurrency: number): Promise<void> {
  await mapLimit(names, concurrency, (name) => client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }));
}

/** Deletes namespaces (404 is fine) and waits, up to `timeoutMs`, until they are gone. Answers how many remain. */
export async function deleteNamespaces(client: KubeClient, names: readonly string[], timeoutMs: number): Promise<number> {
  await mapLimit(names, 16, async (name) => {
    try {
      await client.request('DELETE', `/api/v1/namespaces/${name}`);
    } catch (error) {
      if (!(error instanceof KubeError && error.code === 404)) throw error;
    }
  });
  const wanted = new Set(names);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { items } = await listAll(client, '/api/v1/namespaces');
    const left = items.filter((namespace) => wanted.has(namespace.metadata.name ?? '')).length;
    if (left === 0 || Date.now() > deadline) return left;
    await sleep(1000);
  }
}

export type WatchEventType = 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * List, then watch, a collection; `onObject` gets every object with the monotonic time (performance.now()) its
 * bytes arrived. Reconnects from the last resourceVersion when the server ends a watch; re-lists on 410 Gone.
 */
export class CollectionWatch {
  private readonly client: KubeClient;
  private readonly path: string;
  private readonly query: Record<string, string>;
  private readonly onObject: (type: WatchEventType, object: KubeObject, at: number) => void;
  private stream: IncomingMessage | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private resourceVersion = '';
  errors = 0;

  constructor(client: KubeClient, path: string, query: Record<string, string>, onObject: (type: WatchEventType, object: KubeObject, at: number) => void) {
    this.client = client;
    this.path = path;
    this.query = query;
    this.onObject = onObject;
  }

  /** Resolves once the initial list is delivered and the watch is open. */
  async start(): Promise<void> {
    await this.list();
    let opened!: () => void;
    const ready = new Promise<void>((resolve) => (opened = resolve));
    this.loop = this.run(opened);
    await ready;
  }

  private async list(): Promise<void> {
    const { items, resourceVersion } = await listAll(this.client, this.path, this.query);
    const at = performance.now();
    for (const item of items) this.onObject('LISTED', item, at);
    this.resourceVersion = resourceVersion;
  }

  private async run(opened: () => void): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce(opened);
      } catch (error) {
        if (this.stopped) break;
        this.errors++;
        if (error instanceof KubeError && error.code === 410) {
          await this.list().catch(() => undefined);
          continue;
        }
        await sleep(500);
      }
      opened();
    }
  }

  private async watchOnce(opened: () => void): Promise<void> {
    const stream = await this.client.stream(this.path, {
      query: { ...this.query, watch: true, allowWatchBookmarks: true, resourceVersion: this.resourceVersion, timeoutSeconds: 1800 }, timeoutMs: 1_900_000,
    });
    this.stream = stream;
    opened();
    let buffer = '';
    let failure: Error | undefined;
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        const at = performance.now();
        buffer += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line) as { type: string; object: KubeObject & { code?: number; message?: string } };
          const version = (event.object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
          if (event.type === 'ERROR') {
            failure ??= new KubeError(`watch ${this.path}: ${event.object.message ?? 'error'}`, event.object.code ?? 500, 'WatchError');
            stream.destroy();
            return;
          }
          if (version) this.resourceVersion = version;
          if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') this.onObject(event.type, event.object, at);
        }
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    this.stream = undefined;
    if (failure) throw failure;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.destroy();
    await this.loop;
  }
}
