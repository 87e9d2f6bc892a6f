// The operator's controller: RecoveryPlan and ManagedCluster resources of one namespace (and its Secrets, for
// secretRef clusters) drive a Runtime (one PlanRunner per valid plan, replaced when its spec or a cluster's access
// changes, a rotated Secret included, removed with its resource), and each plan's status comes back on its resource,
// with an Event for each change of its Ready condition. Level-based: every pass derives what runs from the resources
// as they are now, never from the events that led there.
import { isDeepStrictEqual } from 'node:util';
import { apply, orThrow } from '../kube/apply.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { type KubeObject, nameOf, generationOf } from '../kube/ref.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { apiGroup, apiVersion, Kind, resourceNames } from '../plan/schema.ts';
import type { PlanContext } from '../runtime/plans.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Lease, StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import { ClusterStatuses } from './clusters.ts';
import { planStatus, readyEvent, type PlanObservation, type RecoveryPlanStatus } from './conditions.ts';
import { eventRecorder, fieldManager, type RecordEvent } from './events.ts';
import { JobController } from './jobs.ts';
import { judgePlans, type PlanJudgement, type Surroundings } from './resources.ts';
import { StandbyCopies, type StandbyPlan } from './standby.ts';

export { fieldManager } from './events.ts';

export interface OperatorOptions {
  /** The operator's own cluster, where its resources live. */
  client: KubeClient;
  namespace: string;
  /** The pipelines; absent: this operator only recovers (`--components recovery`), another one replicates. */
  runtime?: Runtime;
  /** Redis: the leases of jobs and of the statuses no pipeline writes. */
  state: StateStore;
  metrics: Metrics;
  /** The mirror (point-in-time recoveries) and the identities that decrypt its Secrets. */
  mirror: MirrorRepository;
  identities: readonly string[];
  log: Logger;
  /** This process, as Events name it (reportingInstance). */
  instance: string;
  /** Relative kubeconfig paths of ManagedClusters resolve against it (default: the working directory). */
  baseDir?: string;
  /** The configuration `client` was made from: what a ManagedCluster with `inCluster: true` uses. */
  own?: Surroundings['own'];
  /**
   * 3-cluster topology, the management cluster's operator: each plan it runs is copied into this namespace of its
   * destination cluster, where the stand-by's operator recovers it alone (src/operator/standby.ts).
   */
  standby?: { namespace: string; mirrorRemote?: string };
  /** Before each RecoveryExecutionJob's restore (the stand-by's operator fetches the mirror remote). */
  refreshMirror?: () => Promise<void>;
  /** A plan's status is written on change, and at most this often (default 5 s). */
  statusIntervalMs?: number;
  /**
   * --all-namespaces: the runtime is shared with the other namespaces' controllers (started and stopped by the
   * caller), and plan names are claimed across them (a plan's name names its mirror directory, streams and state).
   */
  shared?: { names: PlanNames };
  /** Every ManagedCluster's permission preflight is made again this often (default 60 s). */
  clusterCheckIntervalMs?: number;
}

/** Plan names in use across the namespaces of one operator: the first namespace to claim a name keeps it. */
export class PlanNames {
  private readonly owners = new Map<string, string>();

  /** Claims `name` for `namespace`; answers the namespace that holds it when that is another one. */
  claim(name: string, namespace: string): string | undefined {
    const owner = this.owners.get(name);
    if (owner !== undefined && owner !== namespace) return owner;
    this.owners.set(name, namespace);
    return undefined;
  }

  /** Gives up the names of `namespace` not in `keep`. */
  release(namespace: string, keep: ReadonlySet<string> = new Set()): void {
    for (const [name, owner] of this.owners) if (owner === namespace && !keep.has(name)) this.owners.delete(name);
  }
}

const statusOf = (object: KubeObject) => (object as { status?: Partial<RecoveryPlanStatus> }).status;

export class Operator {
  private readonly options: OperatorOptions;
  private readonly log: Logger;
  private readonly plans: Informer;
  private readonly clusters: Informer;
  /** The namespace's Secrets, for secretRef clusters: a watch sees a rotation within a second, with no polling. */
  private readonly secrets: Informer;
  private readonly jobs: JobController;
  private readonly recordEvent: RecordEvent;
  /**
   * Held by one replica: it writes the status of plans no pipeline runs (invalid, blocked), which every replica
   * judges alike; a running plan's status is written by its synchronizer's lease holder.
   */
  private readonly statusLease: Lease;
  /** Plans handed to the runtime, with the key of the spec they run. */
  private readonly running = new Map<string, string>();
  private judgements = new Map<string, PlanJudgement>();
  private readonly lastWrite = new Map<string, number>();
  private passes: Promise<void> = Promise.resolve();
  private scheduled: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private stopped = false;
  private readonly clusterStatuses: ClusterStatuses;
  private readonly standby: StandbyCopies | undefined;

  private surroundings(): Surroundings {
    return { namespace: this.options.namespace, secrets: this.secrets.objects(), baseDir: this.options.baseDir ?? process.cwd(), own: this.options.own };
  }

  constructor(options: OperatorOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'operator', namespace: options.namespace });
    const informer = (kind: Kind) => new Informer({
      client: options.client, path: this.collection(kind), type: { group: apiGroup, version: apiVersion.split('/')[1]!, kind },
      log: this.log, onChange: () => this.schedule(),
    });
    this.plans = informer(Kind.recoveryPlan);
    this.clusters = informer(Kind.managedCluster);
    this.secrets = new Informer({
      client: options.client, path: `/api/v1/namespaces/${options.namespace}/secrets`, type: { group: '', version: 'v1', kind: 'Secret' },
      log: this.log, onChange: () => this.schedule(),
    });
    this.recordEvent = eventRecorder(options.client, options.namespace, options.instance, this.log);
    this.statusLease = options.state.lock('_operator', `status:${options.namespace}`);
    // One replica writes the ManagedClusters' statuses: the holder of this lease (a plan name no plan can have).
    this.clusterStatuses = new ClusterStatuses({ client: options.client, namespace: options.namespace, log: this.log, fieldManager, lease: options.state.lock('_operator', `clusters:${options.namespace}`), intervalMs: options.clusterCheckIntervalMs });
    this.standby = options.standby && new StandbyCopies({ ...options.standby, from: options.namespace, state: options.state, log: this.log.child({ component: 'standby-copies' }) });
    this.jobs = new JobController({
      client: options.client, namespace: options.namespace, instance: options.instance, log: this.log, state: options.state, metrics: options.metrics,
      mirror: options.mirror, identities: options.identities, planOf: (name) => this.planOf(name),
      recordEvent: this.recordEvent, onDone: () => void this.writeStatuses(), refreshMirror: options.refreshMirror,
    });
  }

  /** What a RecoveryExecutionJob for the plan needs, or why it cannot run (named in the job's status). */
  private planOf(name: string): { context: PlanContext } | { error: string } {
    const judgement = this.judgements.get(name);
    const where = `in namespace ${this.options.namespace}`;
    if (!judgement) return { error: `RecoveryPlan ${name} not found ${where}` };
    const { verdict } = judgement;
    if (verdict.type === 'invalid') return { error: `RecoveryPlan ${name} ${where} is invalid: ${verdict.errors.join('; ')}` };
    if (verdict.type === 'blocked') return { error: `RecoveryPlan ${name} ${where} cannot run: ${verdict.message}` };
    return { context: verdict.context };
  }

  private collection(kind: Kind): string {
    return `/apis/${apiVersion}/namespaces/${this.options.namespace}/${resourceNames[kind].plural}`;
  }

  /** Lists both kinds, runs the valid plans and keeps following them; resolves after the first pass. */
  async start(): Promise<void> {
    if (!this.options.shared) await this.options.runtime?.start();
    this.plans.start();
    this.clusters.start();
    this.secrets.start();
    await Promise.all([this.plans.ready, this.clusters.ready, this.secrets.ready]);
    this.passes = this.passes.then(() => this.reconcile());
    await this.passes;
    // Jobs after the first pass: a job for a plan of this namespace finds it judged.
    await this.jobs.start();
    this.ticker = setInterval(() => void this.writeStatuses(), 1000);
    await this.clusterStatuses.start();
    this.standby?.start();
  }

  /** A pass soon: changes that arrive together (a watch event per resource) make one pass. */
  private schedule(delayMs = 100): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      this.passes = this.passes.then(() => this.reconcile()).catch((error: Error) => {
        this.log.error({ err: error.message }, 'reconcile pass failed; retrying');
        this.schedule(2000);
      });
    }, delayMs);
  }

  /** Runs what is valid, stops what is gone or invalid; the stand-by of a stopped plan keeps its objects. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    // An operator that only recovers needs the destination alone: a plan whose source it cannot reach still recovers.
    const judged = judgePlans(this.plans.objects().values(), this.clusters.objects().values(), this.surroundings(), { needsSource: Boolean(this.options.runtime) });
    const names = this.options.shared?.names;
    if (names) {
      names.release(this.options.namespace, new Set(judged.keys()));
      for (const [name, judgement] of judged) {
        const owner = names.claim(name, this.options.namespace);
        if (owner !== undefined) {
          judgement.verdict = { type: 'invalid', errors: [`metadata.name: plan name ${name} is taken by the RecoveryPlan ${owner}/${name}: with --all-namespaces plan names are unique across namespaces (a name names the plan's mirror directory, streams and state)`] };
        }
      }
    }
    const before = this.judgements;
    this.judgements = judged;
    for (const name of [...this.running.keys()]) {
      const verdict = judged.get(name)?.verdict;
      if (verdict?.type === 'run') continue;
      this.running.delete(name);
      this.log.info({ plan: name, why: verdict ? verdict.type : 'deleted' }, 'stopping plan; the stand-by keeps its objects');
      await this.options.runtime?.removePlan(name);
    }
    for (const [name, { generation, verdict }] of judged) {
      const earlier = before.get(name);
      if (verdict.type !== 'run') {
        if (earlier?.generation !== generation || earlier.verdict.type !== verdict.type) {
          this.log.warn({ plan: name, generation, ...(verdict.type === 'invalid' ? { errors: verdict.errors } : { reason: verdict.message }) }, verdict.type === 'invalid' ? 'plan is invalid; not running it' : 'plan cannot run');
        }
        continue;
      }
      if (this.running.get(name) === verdict.key || !this.options.runtime) continue;
      this.log.info({ plan: name, generation }, this.running.has(name) ? 'plan changed; restarting it with the new spec' : 'running plan');
      this.running.set(name, verdict.key);
      await this.options.runtime.runPlan(verdict.context);
    }
    for (const name of [...this.lastWrite.keys()]) if (!judged.has(name)) this.lastWrite.delete(name);
    void this.writeStatuses();
    this.copyToStandby(judged);
    this.clusterStatuses.update({ clusters: this.checkedClusters(), plans: this.plans.objects().values(), surroundings: this.surroundings() });
  }

  /** The ManagedClusters whose access is checked here: those an operator that only recovers writes to, or all. */
  private checkedClusters(): Iterable<KubeObject> {
    const clusters = [...this.clusters.objects().values()];
    if (this.options.runtime) return clusters;
    const destinations = new Set([...this.plans.objects().values()].map((plan) => (plan as { spec?: { destination?: { cluster?: string } } }).spec?.destination?.cluster));
    return clusters.filter((cluster) => destinations.has(cluster.metadata.name));
  }

  private copyToStandby(judged: ReadonlyMap<string, PlanJudgement>): void {
    if (!this.standby) return;
    const clusters = new Map([...this.clusters.objects().values()].map((cluster) => [cluster.metadata.name ?? '', cluster]));
    const plans = new Map<string, StandbyPlan>();
    for (const [name, { verdict }] of judged) {
      const plan = this.plans.objects().get(name);
      if (verdict.type !== 'run' || !plan || 'error' in verdict.context.destination) continue;
      plans.set(name, { context: { ...verdict.context, destination: verdict.context.destination }, plan, clusters });
    }
    this.standby.update(plans);
  }

  /** Every plan's status, written where it changed (one pass at a time). */
  private writeStatuses(): Promise<void> {
    this.writing ??= (async () => {
      await this.holdStatusLease();
      for (const object of [...this.plans.objects().values()]) {
        if (this.stopped) return;
        await this.writeStatus(object).catch((error: Error) => this.log.warn({ plan: object.metadata.name, err: error.message }, 'cannot write the plan status; retrying'));
      }
    })().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** What is known of a plan now, or undefined when this process is not the one to say (or a pass is due). */
  private async observe(object: KubeObject): Promise<PlanObservation | undefined> {
    const name = nameOf(object);
    const judgement = this.judgements.get(name);
    const generation = generationOf(object);
    if (!judgement || judgement.generation !== generation) return undefined;
    const { verdict } = judgement;
    if (verdict.type !== 'run' && !this.statusLease.isHeld) return undefined;
    if (verdict.type === 'invalid') return { type: 'invalid', generation, errors: verdict.errors };
    if (verdict.type === 'blocked') return { type: 'blocked', generation, message: verdict.message };
    const runner = this.options.runtime?.runners.get(name);
    // Only the process that synchronizes the plan writes its status (PlanRunner.writesStatus).
    if (!runner || this.running.get(name) !== verdict.key || !runner.writesStatus) return undefined;
    const status = await runner.status();
    return { type: 'running', generation, suspended: verdict.context.plan.spec.suspend, ready: runner.ready, notReadyReason: runner.notReadyReason(), status };
  }

  private async writeStatus(object: KubeObject): Promise<void> {
    const name = nameOf(object);
    const observation = await this.observe(object);
    if (!observation) return;
    const previous = statusOf(object);
    const next = planStatus(observation, previous, new Date().toISOString());
    const ready = next.conditions.find((entry) => entry.type === 'Ready');
    this.options.metrics.planReady.set({ plan: name }, ready?.status === 'True' ? 1 : 0);
    this.options.metrics.planLag.set({ plan: name }, next.lagSeconds ?? 0);
    if (isDeepStrictEqual(previous, next)) return;
    if (Date.now() - (this.lastWrite.get(name) ?? 0) < (this.options.statusIntervalMs ?? 5000)) return;
    const body = { apiVersion, kind: Kind.recoveryPlan, metadata: { name, namespace: this.options.namespace }, status: next };
    try {
      orThrow(await apply(this.options.client, `${this.collection(Kind.recoveryPlan)}/${name}/status`, body as unknown as KubeObject, { fieldManager }));
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return; // deleted meanwhile
      throw error;
    }
    this.lastWrite.set(name, Date.now());
    const event = readyEvent(previous?.conditions ?? [], next.conditions, previous?.initialSyncTime !== undefined);
    if (event) await this.recordEvent(object, event);
  }

  /** Takes the status lease when it is free, and keeps it (renewed) while this process runs. */
  private async holdStatusLease(): Promise<void> {
    if (this.statusLease.isHeld || this.stopped) return;
    if (await this.statusLease.tryAcquire().catch(() => false)) this.statusLease.keepAlive(() => this.log.info('another replica writes the status of plans that do not run'));
  }

  /** Ready when both kinds are listed and watched, and every running plan is ready here. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    for (const [plural, informer] of [[resourceNames[Kind.recoveryPlan].plural, this.plans], [resourceNames[Kind.managedCluster].plural, this.clusters], ['secrets', this.secrets]] as const) {
      if (!informer.listed) reasons.push(`${plural} in namespace ${this.options.namespace} not listed yet${informer.failing ? `: ${informer.failing.error}` : ''}`);
      else if (informer.failing) reasons.push(`cannot watch ${plural} in namespace ${this.options.namespace}: ${informer.failing.error}`);
    }
    const jobs = resourceNames[Kind.recoveryExecutionJob].plural;
    if (!this.jobs.listed) reasons.push(`${jobs} in namespace ${this.options.namespace} not listed yet${this.jobs.failing ? `: ${this.jobs.failing.error}` : ''}`);
    else if (this.jobs.failing) reasons.push(`cannot watch ${jobs} in namespace ${this.options.namespace}: ${this.jobs.failing.error}`);
    for (const runner of this.options.runtime?.runners.values() ?? []) if (!runner.ready) reasons.push(runner.notReadyReason());
    return { ready: reasons.length === 0, reasons };
  }

  /** Stops following the resources, then every plan (each finishing what it holds). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.scheduled);
    clearInterval(this.ticker);
    await this.standby?.stop();
    await Promise.all([this.plans.stop(), this.clusters.stop(), this.secrets.stop(), this.jobs.stop()]);
    await this.clusterStatuses.stop();
    await this.passes;
    await this.writing;
    await this.statusLease.release();
    if (!this.options.shared) return this.options.runtime?.stop();
    // A shared runtime runs on: the plans of this namespace stop (their stand-bys keep what they have).
    for (const name of this.running.keys()) await this.options.runtime?.removePlan(name);
    this.options.shared.names.release(this.options.namespace);
  }
}
