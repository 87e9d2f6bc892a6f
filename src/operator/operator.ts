// The operator's controller: RecoveryPlan and ManagedCluster resources of one namespace (and its Secrets, for
// secretRef clusters) drive a Runtime (one PlanRunner per valid plan, replaced when its spec or a cluster's access
// changes, a rotated Secret included, removed with its resource), and each plan's status comes back on its resource,
// with an Event for each change of its Ready condition. Level-based: every pass derives what runs from the resources
// as they are now, never from the events that led there.
import { isDeepStrictEqual } from 'node:util';
import { apply, orThrow } from '../kube/apply.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import type { KubeObject } from '../kube/ref.ts';
import { apiGroup, apiVersion, Kind, resourceNames } from '../plan/schema.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Lease } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import { ClusterStatuses } from './clusters.ts';
import { planStatus, readyEvent, type PlanObservation, type RecoveryPlanStatus } from './conditions.ts';
import { judgePlans, type PlanJudgement } from './resources.ts';

/** Who owns the status fields the operator writes (server-side apply). */
export const fieldManager = 'lifeboat-operator';

export interface OperatorOptions {
  /** The operator's own cluster, where its resources live. */
  client: KubeClient;
  namespace: string;
  runtime: Runtime;
  log: Logger;
  /** This process, as Events name it (reportingInstance). */
  instance: string;
  /** Relative kubeconfig paths of ManagedClusters resolve against it (default: the working directory). */
  baseDir?: string;
  /** A plan's status is written on change, and at most this often (default 5 s). */
  statusIntervalMs?: number;
  /** Held by the one replica that writes ManagedCluster statuses (none: this process writes them). */
  clusterLease?: Lease;
  /** Every ManagedCluster's permission preflight is made again this often (default 60 s). */
  clusterCheckIntervalMs?: number;
}

const nameOf = (object: KubeObject) => object.metadata.name ?? '';
const generationOf = (object: KubeObject) => Number((object.metadata as { generation?: number }).generation ?? 0);
const statusOf = (object: KubeObject) => (object as { status?: Partial<RecoveryPlanStatus> }).status;

export class Operator {
  private readonly options: OperatorOptions;
  private readonly log: Logger;
  private readonly plans: Informer;
  private readonly clusters: Informer;
  /** The namespace's Secrets, for secretRef clusters: a watch sees a rotation within a second, with no polling. */
  private readonly secrets: Informer;
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
    this.clusterStatuses = new ClusterStatuses({ client: options.client, namespace: options.namespace, log: this.log, fieldManager, lease: options.clusterLease, intervalMs: options.clusterCheckIntervalMs });
  }

  private collection(kind: Kind): string {
    return `/apis/${apiVersion}/namespaces/${this.options.namespace}/${resourceNames[kind].plural}`;
  }

  /** Lists both kinds, runs the valid plans and keeps following them; resolves after the first pass. */
  async start(): Promise<void> {
    await this.options.runtime.start();
    this.plans.start();
    this.clusters.start();
    this.secrets.start();
    await Promise.all([this.plans.ready, this.clusters.ready, this.secrets.ready]);
    this.passes = this.passes.then(() => this.reconcile());
    await this.passes;
    this.ticker = setInterval(() => void this.writeStatuses(), 1000);
    await this.clusterStatuses.start();
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
    const judged = judgePlans(this.plans.objects().values(), this.clusters.objects().values(), { namespace: this.options.namespace, secrets: this.secrets.objects(), baseDir: this.options.baseDir ?? process.cwd() });
    const before = this.judgements;
    this.judgements = judged;
    for (const name of [...this.running.keys()]) {
      const verdict = judged.get(name)?.verdict;
      if (verdict?.type === 'run') continue;
      this.running.delete(name);
      this.log.info({ plan: name, why: verdict ? verdict.type : 'deleted' }, 'stopping plan; the stand-by keeps its objects');
      await this.options.runtime.removePlan(name);
    }
    for (const [name, { generation, verdict }] of judged) {
      const earlier = before.get(name);
      if (verdict.type !== 'run') {
        if (earlier?.generation !== generation || earlier.verdict.type !== verdict.type) {
          this.log.warn({ plan: name, generation, ...(verdict.type === 'invalid' ? { errors: verdict.errors } : { reason: verdict.message }) }, verdict.type === 'invalid' ? 'plan is invalid; not running it' : 'plan cannot run');
        }
        continue;
      }
      if (this.running.get(name) === verdict.key) continue;
      this.log.info({ plan: name, generation }, this.running.has(name) ? 'plan changed; restarting it with the new spec' : 'running plan');
      this.running.set(name, verdict.key);
      await this.options.runtime.runPlan(verdict.context);
    }
    for (const name of [...this.lastWrite.keys()]) if (!judged.has(name)) this.lastWrite.delete(name);
    void this.writeStatuses();
    this.clusterStatuses.update({ clusters: this.clusters.objects().values(), plans: this.plans.objects().values(), surroundings: { namespace: this.options.namespace, secrets: this.secrets.objects(), baseDir: this.options.baseDir ?? process.cwd() } });
  }

  /** Every plan's status, written where it changed (one pass at a time). */
  private writeStatuses(): Promise<void> {
    this.writing ??= (async () => {
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
    if (verdict.type === 'invalid') return { type: 'invalid', generation, errors: verdict.errors };
    if (verdict.type === 'blocked') return { type: 'blocked', generation, message: verdict.message };
    const runner = this.options.runtime.runners.get(name);
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
    const event = readyEvent(previous?.conditions ?? [], next.conditions);
    if (event) await this.recordEvent(object, event);
  }

  /** A core/v1 Event about a plan (kubectl describe, kubectl events); a failure to record one is only logged. */
  private async recordEvent(object: KubeObject, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    const { namespace, instance } = this.options;
    const now = new Date().toISOString();
    const metadata = object.metadata as { name: string; uid?: string; resourceVersion?: string };
    await this.options.client.request('POST', `/api/v1/namespaces/${namespace}/events`, {
      apiVersion: 'v1', kind: 'Event', metadata: { generateName: `${metadata.name}.`, namespace },
      involvedObject: { apiVersion, kind: Kind.recoveryPlan, name: metadata.name, namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion },
      type: event.type, reason: event.reason, message: event.message.slice(0, 1000), count: 1, firstTimestamp: now, lastTimestamp: now,
      source: { component: fieldManager }, reportingComponent: `${apiGroup}/operator`, reportingInstance: instance,
    }).catch((error: Error) => this.log.warn({ plan: metadata.name, reason: event.reason, err: error.message }, 'cannot record an Event'));
  }

  /** Ready when both kinds are listed and watched, and every running plan is ready here. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    for (const [plural, informer] of [[resourceNames[Kind.recoveryPlan].plural, this.plans], [resourceNames[Kind.managedCluster].plural, this.clusters], ['secrets', this.secrets]] as const) {
      if (!informer.listed) reasons.push(`${plural} in namespace ${this.options.namespace} not listed yet${informer.failing ? `: ${informer.failing.error}` : ''}`);
      else if (informer.failing) reasons.push(`cannot watch ${plural} in namespace ${this.options.namespace}: ${informer.failing.error}`);
    }
    for (const runner of this.options.runtime.runners.values()) if (!runner.ready) reasons.push(runner.notReadyReason());
    return { ready: reasons.length === 0, reasons };
  }

  /** Stops following the resources, then every plan (each finishing what it holds). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.scheduled);
    clearInterval(this.ticker);
    await this.clusterStatuses.stop();
    await Promise.all([this.plans.stop(), this.clusters.stop(), this.secrets.stop()]);
    await this.passes;
    await this.writing;
    await this.options.runtime.stop();
  }
}
