// Synchronization state in Redis, one key family per plan (prefix `lifeboat:<plan>:`): watch checkpoints, mirror
// and applied heads, the applied inventory (mirror path → blob), apply failures, locks and the failover flag.
// Nothing here is the only copy of anything: losing it costs a full re-apply, never data.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import type { HeldDelete } from '../pipeline/delete-guard.ts';
import { parseRedisUrl, redactPassword } from './redis-url.ts';

/** Samples a plan's lag history keeps: an hour at one per 10 s. */
const lagSamples = 360;

export interface ApplyFailure {
  path: string;
  reason: string;
  attempts: number;
  at: string;
}

export type StateValue = 'mirror-head' | 'applied-head' | 'plan-revision' | 'failover' | 'failback' | 'listed-at';

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

/** Why the first connection failed, in one line that names the server (password masked) and the setting to change. */
function connectFailure(url: string, error: Error): string {
  const reason = error.message.replace(/\.$/, '');
  const where = redactPassword(url);
  if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(reason)) {
    return `Redis at ${where} refused lifeboat's credentials: ${reason} (give the user and password in --redis or LIFEBOAT_REDIS_URL: redis://USER:PASSWORD@HOST:PORT)`;
  }
  return `cannot reach Redis at ${where}: ${reason} (set --redis or LIFEBOAT_REDIS_URL)`;
}

/**
 * Reports an outage once when the connection is lost (ioredis starts reconnecting) and again only when the reason
 * changes (refused connections, then refused credentials), and its end when Redis answers again.
 */
function watchOutages(redis: Redis, onOutage: ((event: 'down' | 'up', error?: Error) => void) | undefined): void {
  if (!onOutage) return;
  let down = false;
  let reported = '';
  const report = (error: Error | undefined) => {
    const reason = error?.message ?? 'connection lost';
    if (down && reason === reported) return;
    down = true;
    reported = reason;
    onOutage('down', error ?? new Error(reason));
  };
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
    if (down) report(error);
  });
  redis.on('reconnecting', () => report(lastError));
  redis.on('ready', () => {
    lastError = undefined;
    if (!down) return;
    down = false;
    reported = '';
    onOutage('up');
  });
}

/** Names of every plan that wrote a status (an index set: listing plans never scans the keyspace). */
const plansIndexKey = 'lifeboat:_plans';
/** The plans source's own status: which revision runs, and why the latest one does not. */
const plansStatusKey = 'lifeboat:_plans:status';
/** Where an earlier version kept the Secret hash key (moved to a file beside the mirror, see hash-key.ts). */
const legacyHashKeyKey = 'lifeboat:hash-key';
/** Revisions whose apply time is kept per plan, for `lifeboat history`. */
const appliedTimesKept = 10_000;

export class StateStore implements SyncState {
  private readonly redis: Redis;

  private constructor(redis: Redis) {
    this.redis = redis;
  }

  /**
   * Connects, or says in one line why not (unreachable, or credentials refused; the URL's password masked). With
   * `waitWhileDown` (lifeboat run) a command issued while Redis is down waits until it is back instead of failing:
   * ioredis reconnects forever (backoff up to 2 s) and resends what was in flight, so no caller ever sees an outage,
   * only a pause; `onOutage` hears when one starts (with the error) and ends.
   */
  static async connect(url: string, options: { waitWhileDown?: boolean; onOutage?: (event: 'down' | 'up', error?: Error) => void } = {}): Promise<StateStore> {
    // connectTimeout: an address that drops packets fails the first connect in seconds, not never.
    const common: RedisOptions = {
      lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: options.waitWhileDown ? null : 3, enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    };
    // A sentinel URL: ioredis asks the sentinels for the primary on every (re)connect (a failover closes the old
    // primary's connections). Not its failoverDetector: with it, a client was once left "closed" after a kill -9.
    const target = parseRedisUrl(url);
    const redis = target.type === 'sentinel'
      ? new Redis({ ...common, ...target.options, sentinelRetryStrategy: (times) => Math.min(times * 200, 2000) })
      : new Redis(url, common);
    // Connection errors while Redis restarts are retried by ioredis; without a listener it would print every
    // reconnect attempt as unhandled. The first one is kept: connect() itself rejects only with "Connection is
    // closed", which says nothing about why.
    let firstError: Error | undefined;
    redis.on('error', (error: Error) => void (firstError ??= error));
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new Error(connectFailure(url, firstError ?? (error as Error)), { cause: error });
    }
    watchOutages(redis, options.onOutage);
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

  /**
   * When a revision reached the destination (the newest 10,000). The first time only (NX): a later pass that finds
   * the same head (a retry of failed objects) must not move it.
   */
  async recordAppliedAt(plan: string, revision: string, at = Date.now()): Promise<void> {
    await this.redis.multi().zadd(this.key(plan, 'applied-at'), 'NX', at, revision).zremrangebyrank(this.key(plan, 'applied-at'), 0, -(appliedTimesKept + 1)).exec();
  }
  /** Revision → when it was first applied (epoch ms). */
  async appliedTimes(plan: string): Promise<Map<string, number>> {
    const scored = await this.redis.zrange(this.key(plan, 'applied-at'), '0', '-1', 'WITHSCORES');
    const times = new Map<string, number>();
    for (let index = 0; index < scored.length; index += 2) times.set(scored[index]!, Number(scored[index + 1]));
    return times;
  }

  /** A plan's status as its runner last wrote it (lifeboat status), kept an hour; the plan joins the index. */
  /** Appends one RPO sample to the plan's lag history, which keeps the newest `lagSamples` (an hour at one per 10 s). */
  async recordLag(plan: string, atMs: number, lagSeconds: number): Promise<void> {
    const key = this.key(plan, 'lag-history');
    await this.redis.multi().rpush(key, `${Math.round(atMs / 1000)} ${Number(lagSeconds.toFixed(2))}`).ltrim(key, -lagSamples, -1).expire(key, 7200).exec();
  }
  /** Each plan's lag history, oldest first: [unix seconds, lag seconds]. */
  async lagHistories(plans: readonly string[]): Promise<Map<string, [number, number][]>> {
    const pipeline = this.redis.pipeline();
    for (const plan of plans) pipeline.lrange(this.key(plan, 'lag-history'), 0, -1);
    const answers = (await pipeline.exec()) ?? [];
    return new Map(plans.map((plan, index) => [plan, ((answers[index]?.[1] as string[] | undefined) ?? []).map((entry) => {
      const [at, lag] = entry.split(' ');
      return [Number(at), Number(lag)] as [number, number];
    })]));
  }
  async savePlanStatus(plan: string, status: object): Promise<void> {
    await this.redis.multi().set(this.key(plan, 'status'), JSON.stringify(status), 'EX', 3600).sadd(plansIndexKey, plan).exec();
  }
  /** Every plan's last status (those of `only` when given), by plan name; plans whose status expired are left out. */
  async planStatuses<T>(only?: ReadonlySet<string>): Promise<T[]> {
    const names = (await this.redis.smembers(plansIndexKey)).filter((name) => !only || only.has(name)).sort();
    if (!names.length) return [];
    const values = await this.redis.mget(...names.map((name) => this.key(name, 'status')));
    return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as T);
  }
  /** True when this database holds any plan's state (what a mistyped --redis database lacks). */
  async hasPlans(): Promise<boolean> {
    return (await this.redis.scard(plansIndexKey)) > 0;
  }

  async savePlansStatus(status: object): Promise<void> {
    await this.redis.set(plansStatusKey, JSON.stringify(status));
  }
  async plansStatus<T>(): Promise<T | undefined> {
    const raw = await this.redis.get(plansStatusKey);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  /** The last reconcile report of a plan, kept a week. */
  async saveReconcileReport(plan: string, report: object): Promise<void> {
    await this.redis.set(this.key(plan, 'reconcile'), JSON.stringify(report), 'EX', 7 * 24 * 3600);
  }

  /** The Secret hash key an earlier version kept in Redis, to move it out (hash-key.ts). */
  readonly legacyHashKey = {
    read: async (): Promise<string | undefined> => (await this.redis.get(legacyHashKeyKey)) ?? undefined,
    remove: async (): Promise<void> => void (await this.redis.del(legacyHashKeyKey)),
  };

  /**
   * The source resourceVersion of each object path the mirror writer last committed (a delete's too): a message
   * carrying an older version (another processor replica was slower) never replaces it.
   */
  async committedVersions(plan: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.key(plan, 'versions'))));
  }
  async recordCommittedVersions(plan: string, versions: Map<string, string>): Promise<void> {
    if (versions.size) await this.redis.hset(this.key(plan, 'versions'), Object.fromEntries(versions));
  }

  /**
   * Membership of a group of processes (those running a component): each renews its entry, which lapses `ttlMs`
   * after the last renewal. The live members, this one included, sorted.
   */
  async heartbeat(group: string, member: string, ttlMs: number): Promise<string[]> {
    const key = `lifeboat:_members:${group}`;
    const now = Date.now();
    const [, , [, members]] = (await this.redis.multi().zadd(key, now + ttlMs, member).zremrangebyscore(key, '-inf', String(now)).zrange(key, '0', '-1').exec()) as [unknown, unknown, [unknown, string[]]];
    return members;
  }
  async leave(group: string, member: string): Promise<void> {
    await this.redis.zrem(`lifeboat:_members:${group}`, member);
  }

  /** Forgets everything about a plan (used when a plan is removed); SCAN, never KEYS. */
  async forget(plan: string): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `lifeboat:${plan}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await this.redis.del(...keys);
    } while (cursor !== '0');
    await this.redis.srem(plansIndexKey, plan);
  }

  /** Switches to another database of the same Redis (the one a URL names); rejects when Redis has no such database. */
  async selectDatabase(database: number): Promise<void> {
    await this.redis.select(database);
  }

  /** Other databases of this Redis that hold lifeboat plans (INFO keyspace, then each one's plans index). */
  async otherDatabasesWithPlans(current: number): Promise<number[]> {
    const keyspace = await this.redis.info('keyspace');
    const found: number[] = [];
    for (const [, number] of keyspace.matchAll(/^db(\d+):keys=[1-9]/gm)) {
      const database = Number(number);
      if (database === current) continue;
      const other = this.redis.duplicate({ db: database });
      try {
        if ((await other.scard(plansIndexKey)) > 0) found.push(database);
      } finally {
        other.disconnect();
      }
    }
    return found;
  }

  /** A lease-based lock: only one holder per name; renew before ttl expires or lose it. */
  lock(plan: string, name: string, ttlMs = 10_000): Lease {
    return new Lease(this.redis, this.key(plan, `lock:${name}`), ttlMs);
  }

  /**
   * Ends `waitWhileDown`: commands waiting for Redis, and new ones, fail at the next reconnect attempt (at most 2 s)
   * instead of waiting for it. A stop during an outage then finishes.
   */
  stopWaiting(): void {
    this.redis.options.maxRetriesPerRequest = 0;
  }

  /** Quits politely when Redis answers; during an outage a quit would wait for it like any command, so it disconnects. */
  async close(): Promise<void> {
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export class Lease {
  private readonly redis: Redis;
  readonly key: string;
  private readonly ttlMs: number;
  /** Names the holding process (host/pid), so that whoever looks at the lock in Redis sees who holds it. */
  readonly token = `${hostname()}/${process.pid}/${randomUUID()}`;
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

  /** Gives the lock up. During a Redis outage the release would wait for it: after 2 s the lease is left to expire. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.held) return;
    this.held = false;
    const release = this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end", 1, this.key, this.token).catch(() => 0);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([release, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
  }
}
