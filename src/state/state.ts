// Synchronization state in Redis, one key family per plan (prefix `lifeboat:<plan>:`): watch checkpoints, mirror
// and applied heads, the applied inventory (mirror path → blob), apply failures, locks and the failover flag.
// Nothing here is the only copy of anything: losing it costs a full re-apply, never data.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { HeldDelete } from '../pipeline/delete-guard.ts';

export interface ApplyFailure {
  path: string;
  reason: string;
  attempts: number;
  at: string;
}

type StateValue = 'mirror-head' | 'applied-head' | 'plan-revision' | 'failover' | 'failback';

/** What the synchronizer keeps between passes. */
export interface SyncState {
  getValue(plan: string, name: StateValue): Promise<string | undefined>;
  setValue(plan: string, name: StateValue, value: string): Promise<void>;
  inventory(plan: string): Promise<Map<string, string>>;
  recordApplied(plan: string, applied: Map<string, string>, deleted: string[]): Promise<void>;
  failures(plan: string): Promise<ApplyFailure[]>;
  recordFailures(plan: string, failures: { path: string; reason: string }[]): Promise<void>;
}

/**
 * Synchronizer state that lives as long as one command: `lifeboat recover` with no Redis at hand (the day the
 * source side is gone) needs only the destination and the mirror. Nothing here outlives the process.
 */
export class CommandState implements SyncState {
  private readonly values = new Map<string, string>();
  private readonly applied = new Map<string, Map<string, string>>();
  private readonly failed = new Map<string, Map<string, ApplyFailure>>();

  async getValue(plan: string, name: StateValue): Promise<string | undefined> {
    return this.values.get(`${plan}/${name}`);
  }
  async setValue(plan: string, name: StateValue, value: string): Promise<void> {
    this.values.set(`${plan}/${name}`, value);
  }
  async inventory(plan: string): Promise<Map<string, string>> {
    return new Map(this.applied.get(plan));
  }
  async recordApplied(plan: string, applied: Map<string, string>, deleted: string[]): Promise<void> {
    const inventory = this.applied.get(plan) ?? new Map<string, string>();
    for (const [path, oid] of applied) inventory.set(path, oid);
    for (const path of deleted) inventory.delete(path);
    this.applied.set(plan, inventory);
  }
  async failures(plan: string): Promise<ApplyFailure[]> {
    return [...(this.failed.get(plan)?.values() ?? [])];
  }
  async recordFailures(plan: string, failures: { path: string; reason: string }[]): Promise<void> {
    const entries = this.failed.get(plan) ?? new Map<string, ApplyFailure>();
    for (const failure of failures) entries.set(failure.path, { ...failure, attempts: (entries.get(failure.path)?.attempts ?? 0) + 1, at: new Date().toISOString() });
    this.failed.set(plan, entries);
  }
}

export class StateStore implements SyncState {
  readonly redis: Redis;

  private constructor(redis: Redis) {
    this.redis = redis;
  }

  static async connect(url: string): Promise<StateStore> {
    // connectTimeout: an address that drops packets fails the first connect in seconds, not never.
    const redis = new Redis(url, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 3, enableOfflineQueue: true, retryStrategy: (times) => Math.min(times * 200, 2000) });
    // Connection errors while Redis restarts are retried by ioredis; commands that fail reject to their callers,
    // which report them. Without a listener ioredis would print every reconnect attempt as unhandled. The first
    // one is kept: connect() itself rejects only with "Connection is closed", which says nothing about why.
    let firstError: Error | undefined;
    redis.on('error', (error: Error) => void (firstError ??= error));
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      const reason = (firstError ?? (error as Error)).message.replace(/\.$/, '');
      throw new Error(`cannot reach Redis at ${url}: ${reason} (set --redis or LIFEBOAT_REDIS_URL)`, { cause: error });
    }
    return new StateStore(redis);
  }

  key(plan: string, name: string): string {
    return `lifeboat:${plan}:${name}`;
  }

  // Watch checkpoints: resource (group/version/plural) → resourceVersion.
  async checkpoints(plan: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key(plan, 'checkpoints'));
  }
  async saveCheckpoint(plan: string, resource: string, resourceVersion: string): Promise<void> {
    await this.redis.hset(this.key(plan, 'checkpoints'), resource, resourceVersion);
  }
  async clearCheckpoint(plan: string, resource: string): Promise<void> {
    await this.redis.hdel(this.key(plan, 'checkpoints'), resource);
  }

  async getValue(plan: string, name: StateValue): Promise<string | undefined> {
    return (await this.redis.get(this.key(plan, name))) ?? undefined;
  }
  async setValue(plan: string, name: StateValue, value: string): Promise<void> {
    await this.redis.set(this.key(plan, name), value);
  }
  /** Clears `failover` and records `failback` in one step (`lifeboat failback`): synchronizers write to the stand-by again. */
  async failBack(plan: string, record: string): Promise<void> {
    await this.redis.multi().del(this.key(plan, 'failover')).set(this.key(plan, 'failback'), record).exec();
  }

  // Applied inventory: mirror path → blob oid last applied to the destination.
  async inventory(plan: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.key(plan, 'applied'))));
  }
  async recordApplied(plan: string, applied: Map<string, string>, deleted: string[]): Promise<void> {
    const pipeline = this.redis.multi();
    if (applied.size) pipeline.hset(this.key(plan, 'applied'), Object.fromEntries(applied));
    if (deleted.length) pipeline.hdel(this.key(plan, 'applied'), ...deleted);
    const done = [...applied.keys(), ...deleted];
    if (done.length) pipeline.hdel(this.key(plan, 'failures'), ...done);
    await pipeline.exec();
  }

  async failures(plan: string): Promise<ApplyFailure[]> {
    const raw = await this.redis.hgetall(this.key(plan, 'failures'));
    return Object.values(raw).map((value) => JSON.parse(value) as ApplyFailure).sort((a, b) => a.path.localeCompare(b.path));
  }
  async recordFailures(plan: string, failures: { path: string; reason: string }[]): Promise<void> {
    if (!failures.length) return;
    const existing = await this.redis.hmget(this.key(plan, 'failures'), ...failures.map((f) => f.path));
    const entries: Record<string, string> = {};
    failures.forEach((failure, index) => {
      const previous = existing[index] ? (JSON.parse(existing[index]) as ApplyFailure) : undefined;
      entries[failure.path] = JSON.stringify({ ...failure, attempts: (previous?.attempts ?? 0) + 1, at: new Date().toISOString() });
    });
    await this.redis.hset(this.key(plan, 'failures'), entries);
  }

  // Deletes held by the guard (path → HeldDelete JSON) and deletes a person rejected (a set of paths).
  async heldDeletes(plan: string): Promise<HeldDelete[]> {
    const raw = await this.redis.hgetall(this.key(plan, 'held-deletes'));
    return Object.values(raw).map((value) => JSON.parse(value) as HeldDelete).sort((a, b) => a.path.localeCompare(b.path));
  }
  async holdDeletes(plan: string, held: HeldDelete[]): Promise<void> {
    if (held.length) await this.redis.hset(this.key(plan, 'held-deletes'), Object.fromEntries(held.map((entry) => [entry.path, JSON.stringify(entry)])));
  }
  async releaseDeletes(plan: string, paths: string[]): Promise<void> {
    if (paths.length) await this.redis.hdel(this.key(plan, 'held-deletes'), ...paths);
  }
  async rejectedDeletes(plan: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.key(plan, 'rejected-deletes')));
  }
  async rejectDeletes(plan: string, paths: string[]): Promise<void> {
    if (!paths.length) return;
    await this.redis.multi().sadd(this.key(plan, 'rejected-deletes'), ...paths).hdel(this.key(plan, 'held-deletes'), ...paths).exec();
  }
  /** Objects that exist again in the source: neither held nor rejected any more. */
  async clearDeleteDecisions(plan: string, paths: string[]): Promise<void> {
    if (!paths.length) return;
    await this.redis.multi().hdel(this.key(plan, 'held-deletes'), ...paths).srem(this.key(plan, 'rejected-deletes'), ...paths).exec();
  }

  // Capture paused for objects a rollback or revert restored (a set of mirror paths), until `lifeboat resume`.
  async pausedPaths(plan: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.key(plan, 'paused')));
  }
  async pause(plan: string, paths: string[]): Promise<void> {
    if (paths.length) await this.redis.sadd(this.key(plan, 'paused'), ...paths);
  }
  async resume(plan: string): Promise<number> {
    const count = await this.redis.scard(this.key(plan, 'paused'));
    await this.redis.del(this.key(plan, 'paused'));
    return count;
  }

  /** Forgets everything about a plan (used when a plan is removed). */
  async forget(plan: string): Promise<void> {
    const keys = await this.redis.keys(`lifeboat:${plan}:*`);
    if (keys.length) await this.redis.del(...keys);
  }

  /** A lease-based lock: only one holder per name; renew before ttl expires or lose it. */
  lock(plan: string, name: string, ttlMs = 10_000): Lease {
    return new Lease(this.redis, this.key(plan, `lock:${name}`), ttlMs);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export class Lease {
  private readonly redis: Redis;
  readonly key: string;
  private readonly ttlMs: number;
  readonly token = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private held = false;

  constructor(redis: Redis, key: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.ttlMs = ttlMs;
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Tries once; true when this lease now holds the lock. */
  async tryAcquire(): Promise<boolean> {
    const result = await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX');
    this.held = result === 'OK' || (await this.redis.get(this.key)) === this.token;
    return this.held;
  }

  /** Keeps the lease alive until released; `onLost` fires if another holder took it over. */
  keepAlive(onLost: () => void): void {
    clearInterval(this.timer);
    this.timer = setInterval(async () => {
      const renewed = await this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
        1, this.key, this.token, String(this.ttlMs),
      ).catch(() => 0);
      if (renewed !== 1 && this.held) {
        this.held = false;
        clearInterval(this.timer);
        onLost();
      }
    }, Math.floor(this.ttlMs / 3));
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.held) return;
    this.held = false;
    await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end", 1, this.key, this.token).catch(() => 0);
  }
}
