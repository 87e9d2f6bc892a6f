// `lifeboat run`: follows a plans source (a directory or git; next: custom resources) and keeps one PlanRunner per
// plan, replaced when its spec changes. Connects nothing itself: NATS, Redis and the mirror come from the caller.
// With `components`, this process runs only those stages of every plan; the others run elsewhere (JetStream and
// Redis between them), and the plans' leases spread across the processes that run a component.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Bus } from '../bus/bus.ts';
import { KubeClient } from '../kube/client.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MirrorPusher } from '../mirror/pusher.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { PlanError } from '../plan/load.ts';
import { createPlanSource, parsePlanSource } from '../plan/source.ts';
import { PlanWatcher, type PlanChangeSet } from '../plan/watcher.ts';
import { loadHashKey } from '../pipeline/hash-key.ts';
import type { SynchronizerOptions } from '../pipeline/synchronizer.ts';
import type { StateStore } from '../state/state.ts';
import { sleep } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { PlanRunner } from './plan-runner.ts';
import { ClusterUnreachableError, evaluatePlans, kubeConfigOf, probeCluster, type PlanContext } from './plans.ts';
import { components as allComponents, type Component } from './ports.ts';
import { LeaseShares } from './shares.ts';
import type { Unreachable } from './status.ts';

export interface RuntimeOptions {
  /** The plans source to follow (directory or git); without it, the caller runs plans with runPlan and removePlan. */
  plans?: string;
  mirror: MirrorRepository;
  bus: Bus;
  state: StateStore;
  metrics: Metrics;
  log: Logger;
  identities: string[];
  planPollMs?: number;
  /** Pushes the mirror to its HTTP(S) remote after each commit, when configured. */
  pusher?: MirrorPusher;
  /** The stages this process runs (default: all). */
  components?: ReadonlySet<Component>;
  onPass?: SynchronizerOptions['onPass'];
  /** false: the caller sets lifeboat_plan_ready and lifeboat_plan_lag_seconds (the operator, from each plan's Ready). */
  planGauges?: boolean;
}

/** The Secret hash key (hash-key.ts), moving one an earlier version kept in Redis out of it. */
async function hashKey(state: StateStore, mirrorGitdir: string, log: Logger): Promise<string> {
  const loaded = await loadHashKey({ env: process.env, mirrorGitdir, legacy: state.legacyHashKey });
  if (loaded.movedFromRedis) log.warn({ file: loaded.source }, 'moved the Secret hash key out of Redis into this file; several lifeboat processes must share one key: give each the same $LIFEBOAT_HASH_KEY_FILE');
  return loaded.key;
}

export class Runtime {
  private readonly options: RuntimeOptions;
  private readonly components: ReadonlySet<Component>;
  private watcher: PlanWatcher<PlanContext, PlanError> | undefined;
  private readonly plans = new Map<string, PlanRunner>();
  private planRevision: string | undefined;
  private key = '';
  private stopping = false;
  /** True while a plans revision is being applied: its plans may have no runner yet, so nothing is ready. */
  private applying = false;
  private shares: LeaseShares | undefined;
  /** Plans were given by runPlan (no plans source): readiness does not wait for one. */
  private driven = false;

  constructor(options: RuntimeOptions) {
    this.options = options;
    this.components = options.components ?? new Set(allComponents);
  }

  /** The runner of each plan (its status, a reconcile now). */
  /** The plans running now, by name: their specs and clusters. */
  planContexts(): ReadonlyMap<string, PlanContext> {
    return new Map([...this.plans].map(([name, runner]) => [name, runner.context]));
  }

  get runners(): ReadonlyMap<string, PlanRunner> {
    return this.plans;
  }

  async start(): Promise<void> {
    this.key = await hashKey(this.options.state, this.options.mirror.gitdir, this.options.log);
    this.shares = new LeaseShares({
      // Peers are the processes writing the same mirror (its path, the same in every replica's pod).
      state: this.options.state, member: `${os.hostname()}/${process.pid}`, group: createHash('sha256').update(path.resolve(this.options.mirror.gitdir)).digest('hex').slice(0, 16), components: [...this.components].filter((component) => component !== 'processor'),
      plans: () => Math.max(1, this.plans.size), heartbeatMs: 2000, ttlMs: 6000, log: this.options.log.child({ component: 'leases' }),
    });
    await this.shares.start();
    if (this.options.plans === undefined) return;
    const source = createPlanSource(parsePlanSource(this.options.plans));
    // Plan file paths are relative to the working directory (a tree) or to the repository root (git sources).
    const baseDir = process.cwd();
    const log = this.options.log.child({ component: 'plans' });
    this.watcher = new PlanWatcher<PlanContext, PlanError>({
      source, intervalMs: this.options.planPollMs ?? 10_000,
      evaluate: (snapshot) => evaluatePlans(snapshot, baseDir),
      onChange: (changes) => this.apply(changes),
      onInvalid: (revision, errors) => {
        this.options.metrics.planErrors.set(errors.length);
        log.error({ revision, errors: errors.map((error) => `${error.file}:${error.line}:${error.column}: ${error.message}`) }, 'plans revision is invalid; running plans are unchanged');
        this.options.state.savePlansStatus({ source: source.description, latestRevision: revision, appliedRevision: this.planRevision, errors })
          .catch((error: Error) => log.warn({ err: error.message }, 'cannot record the plans status in Redis'));
      },
      onPollError: (error) => log.warn({ err: error.message }, 'cannot read plans; retrying'),
    });
    const pusher = this.options.pusher;
    if (pusher) {
      // A person pushed commits to the mirror's remote (a `git revert`): they are applied like lifeboat's own, and
      // capture of the objects they changed pauses until `lifeboat resume`, so the next source event does not undo them.
      pusher.onRemoteCommits = async (from, to) => {
        for (const runner of this.plans.values()) await runner.remoteCommits(from, to);
      };
      pusher.start(Math.min(this.options.planPollMs ?? 10_000, 10_000));
    }
    await this.watcher.poll();
    const status = this.watcher.status();
    if (!status.appliedRevision && status.lastPollError) throw new Error(`cannot read plans from ${source.description}: ${status.lastPollError}`);
    this.watcher.start();
  }

  private async apply(changes: PlanChangeSet<PlanContext>): Promise<void> {
    this.applying = true;
    try {
      this.planRevision = changes.revision;
      this.options.metrics.planErrors.set(0);
      await this.options.state.savePlansStatus({ appliedRevision: changes.revision, latestRevision: changes.revision, errors: [] });
      const log = this.options.log.child({ component: 'plans' });
      log.info({ revision: changes.revision, added: changes.added.map((c) => c.plan.metadata.name), changed: changes.changed.map((c) => c.plan.metadata.name), removed: changes.removed }, 'plans changed');
      for (const name of changes.removed) await this.removePlan(name);
      for (const context of [...changes.added, ...changes.changed]) await this.runPlan(context);
    } finally {
      this.applying = false;
    }
  }

  /**
   * Runs a plan: a new one, or a running one with a new spec (its runner stops, finishing what it holds, and a new
   * one starts). Resolves once the new runner was launched, not when its initial sync is done.
   */
  async runPlan(context: PlanContext): Promise<void> {
    if (this.options.plans === undefined) this.driven = true;
    const name = context.plan.metadata.name;
    const running = this.plans.get(name);
    if (running) {
      this.plans.delete(name);
      await running.stop();
    }
    if (!this.stopping) this.launch(context, 1, undefined);
  }

  /** Stops a plan's runner; the stand-by keeps what it has. */
  async removePlan(name: string): Promise<void> {
    const running = this.plans.get(name);
    this.plans.delete(name);
    await running?.stop();
  }

  /**
   * Starts one plan's runner. A plan failing to start (a cluster refusing connections, a Redis hiccup) never stops
   * the others, and keeps trying forever: backoff from 1 s to 30 s between tries, while a cheap probe (GET /version,
   * every 2 s) of the cluster that did not answer starts the next try as soon as it does.
   */
  private launch(context: PlanContext, attempt: number, unreachable: Unreachable | undefined): void {
    const name = context.plan.metadata.name;
    const { mirror, bus, state, metrics, log: parent, identities, pusher, onPass } = this.options;
    const runner = new PlanRunner(context, {
      mirror, bus, state, metrics, log: parent, identities, pusher, onPass, hashKey: this.key, components: this.components,
      planRevision: () => this.planRevision, allowance: this.shares, planGauges: this.options.planGauges,
    });
    runner.unreachable = unreachable;
    this.plans.set(name, runner);
    runner.start().then(() => undefined, async (error: Error) => {
      const current = () => this.plans.get(name) === runner && !this.stopping;
      if (!current()) return;
      const log = parent.child({ plan: name });
      const cluster = error instanceof ClusterUnreachableError ? error : undefined;
      if (cluster) {
        runner.unreachable = { cluster: cluster.cluster, role: cluster.role, since: runner.unreachable?.cluster === cluster.cluster ? runner.unreachable.since : new Date().toISOString(), error: cluster.reason };
      }
      const waitMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5)) * (0.8 + Math.random() * 0.2);
      log.error({ err: error.message, attempt, retryInSeconds: Math.round(waitMs / 1000), ...(runner.unreachable ? { unreachableSince: runner.unreachable.since } : {}) }, 'plan failed to start; retrying');
      await runner.stop();
      await runner.publishStatus().catch(() => undefined);
      const until = Date.now() + waitMs;
      const prober = cluster && await KubeClient.create(kubeConfigOf(cluster.access), { maxSockets: 1 });
      try {
        while (current() && Date.now() < until) {
          await sleep(Math.min(2000, until - Date.now()));
          if (prober && current() && (await probeCluster(prober, cluster.access, cluster.role).then(() => true, () => false))) break;
          await runner.publishStatus().catch(() => undefined);
        }
      } finally {
        prober?.close();
      }
      if (current()) this.launch(context, attempt + 1, runner.unreachable);
    }).catch((error: Error) => parent.error({ plan: name, err: error.message }, 'plan could not be restarted; it stays stopped until the plans change'));
  }

  /** Per plan, why it is not ready (for /readyz): a cluster that does not answer, a stage not ready, the initial sync. */
  readiness(): { ready: boolean; reasons: string[] } {
    if (!this.driven && this.watcher?.status().appliedRevision === undefined) return { ready: false, reasons: ['plans not loaded yet'] };
    if (this.applying) return { ready: false, reasons: [`plans revision ${this.planRevision ?? ''} being applied`] };
    const reasons = [...this.plans.values()].filter((runner) => !runner.ready).map((runner) => runner.notReadyReason());
    return { ready: reasons.length === 0, reasons };
  }

  /** True when /readyz answers 200: every plan's stages here are ready and none is stalled. */
  ready(): boolean {
    return this.readiness().ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.options.pusher?.stop();
    await this.watcher?.stop();
    await Promise.all([...this.plans.values()].map((runner) => runner.stop()));
    await this.shares?.stop();
  }
}
