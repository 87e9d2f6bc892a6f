// Copies of the plans at the stand-by (3-cluster topology). The management cluster's operator runs the pipelines;
// recovery must not need it, so for each plan it runs it keeps, in the destination cluster's namespace of the
// stand-by's operator (`lifeboat operator --components recovery`), what a RecoveryExecutionJob there needs: the
// RecoveryPlan (its spec, and where its mirror is pushed, in an annotation), the destination as a ManagedCluster with
// `inCluster: true` (the stand-by's operator reaches its own cluster with its own ServiceAccount) and the source
// ManagedCluster's spec (for the plan to be whole; the stand-by's operator never reads the source). The mirror itself
// comes from the mirror remote (a git server), which the stand-by's operator fetches.
//
// Server-side applied with the destination identity of the plan, on change, retried until it succeeds. A plan
// removed from the management cluster keeps its copy (as the stand-by keeps its objects): it can still be recovered.
//
// And back: a RecoveryExecutionJob that the stand-by's operator started (not a dry run) means the stand-by has
// failed over. The management cluster must then stop writing to it, as `lifeboat recover` stops the synchronizer in
// the 2-cluster topology (the stand-by keeps its own Redis): the jobs of the namespace are looked at every few
// seconds, and a new one sets the plan's failover state here (`lifeboat failback` clears it).
import { createHash } from 'node:crypto';
import { apply, orThrow } from '../kube/apply.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/ref.ts';
import { apiVersion, Kind, resourceNames } from '../plan/schema.ts';
import { kubeConfigOf, type ClusterAccess, type PlanContext } from '../runtime/plans.ts';
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';

/** Where a copy came from (`<namespace>/<name>` of the management cluster's RecoveryPlan). */
export const copiedFromAnnotation = 'lifeboat.dev/copied-from';
/** The mirror remote of the copied plan (no credentials in it): the stand-by's operator fetches the mirror there. */
export const mirrorRemoteAnnotation = 'lifeboat.dev/mirror-remote';

const fieldManager = 'lifeboat-management';
const retryMs = 10_000;
/** How often the stand-by's RecoveryExecutionJobs are looked at. */
const jobsPollMs = 3000;

export interface StandbyCopiesOptions {
  /** The stand-by operator's namespace in every destination cluster (default lifeboat-system). */
  namespace: string;
  /** This operator's namespace (in the management cluster). */
  from: string;
  /** The mirror remote, without credentials. */
  mirrorRemote?: string;
  /** This operator's state: a plan's failover is recorded there. */
  state: StateStore;
  log: Logger;
}

interface JobSeen {
  metadata: { name: string; creationTimestamp?: string };
  spec: { plan: string; dryRun?: boolean };
  status?: { phase?: string };
}

/** What is copied for one plan. */
export interface StandbyPlan {
  context: PlanContext & { destination: ClusterAccess };
  /** The RecoveryPlan resource and the ManagedCluster resources it names, as the management cluster has them. */
  plan: KubeObject;
  clusters: ReadonlyMap<string, KubeObject>;
}

export class StandbyCopies {
  private readonly options: StandbyCopiesOptions;
  /** Per plan, the key of what was copied last (undefined while a copy is being written or failed). */
  private readonly copied = new Map<string, string>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private latest = new Map<string, StandbyPlan>();
  private stopped = false;
  private poller: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(options: StandbyCopiesOptions) {
    this.options = options;
  }

  start(): void {
    const tick = () => {
      this.poller = setTimeout(() => {
        this.polling = this.watchFailovers().catch((error: Error) => this.options.log.warn({ err: error.message }, "cannot look at the stand-by's RecoveryExecutionJobs; retrying"))
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, jobsPollMs);
    };
    tick();
  }

  /** Per destination cluster, its jobs in the stand-by's namespace; a new recovery there fails its plan over here. */
  private async watchFailovers(): Promise<void> {
    const { namespace, state, log } = this.options;
    const byDestination = new Map<string, { access: ClusterAccess; plans: Set<string> }>();
    for (const [name, plan] of this.latest) {
      const access = plan.context.destination;
      const key = JSON.stringify([access.name, access.kubeconfig, access.context]);
      const entry = byDestination.get(key) ?? { access, plans: new Set<string>() };
      entry.plans.add(name);
      byDestination.set(key, entry);
    }
    for (const { access, plans } of byDestination.values()) {
      const client = await KubeClient.create(kubeConfigOf(access), { maxSockets: 1 });
      try {
        const list = await client.request<{ items?: JobSeen[] }>('GET', `/apis/${apiVersion}/namespaces/${namespace}/${resourceNames.RecoveryExecutionJob.plural}`, undefined, { retry: false, timeoutMs: 5000 });
        for (const job of list.items ?? []) {
          const started = job.status?.phase === 'Running' || job.status?.phase === 'Succeeded';
          if (!plans.has(job.spec.plan) || job.spec.dryRun || !started) continue;
          const value = `${access.name}/${namespace}/${job.metadata.name}`;
          if ((await state.getValue(job.spec.plan, 'failover')) !== undefined) continue;
          const failback = JSON.parse((await state.getValue(job.spec.plan, 'failback')) ?? '{}') as { job?: string; at?: string };
          if (failback.job === value || (failback.at && job.metadata.creationTimestamp && job.metadata.creationTimestamp <= failback.at)) continue;
          await state.setValue(job.spec.plan, 'failover', value);
          log.warn({ plan: job.spec.plan, job: value }, 'the stand-by failed over (a RecoveryExecutionJob there); no more writes to it until `lifeboat failback`');
        }
      } finally {
        client.close();
      }
    }
  }

  /** The plans that run now; copies of those that changed are written (plans no longer here keep theirs). */
  update(plans: ReadonlyMap<string, StandbyPlan>): void {
    this.latest = new Map(plans);
    for (const [name, plan] of plans) void this.copy(name, plan);
  }

  /** The objects written to the destination for a plan. */
  objects(name: string, { context, plan, clusters }: StandbyPlan): KubeObject[] {
    const { namespace, from, mirrorRemote } = this.options;
    const meta = (objectName: string, annotations: Record<string, string> = {}) => ({
      name: objectName, namespace, labels: { 'app.kubernetes.io/managed-by': 'lifeboat' },
      annotations: { [copiedFromAnnotation]: `${from}/${objectName}`, ...annotations },
    });
    const spec = (object: KubeObject | undefined) => (object as { spec?: unknown } | undefined)?.spec ?? {};
    const { source, destination } = context.plan.spec;
    const objects: KubeObject[] = [];
    if (source.cluster !== destination.cluster) {
      objects.push({ apiVersion, kind: Kind.managedCluster, metadata: meta(source.cluster), spec: spec(clusters.get(source.cluster)) } as KubeObject);
    }
    objects.push({ apiVersion, kind: Kind.managedCluster, metadata: meta(destination.cluster), spec: { inCluster: true } } as KubeObject);
    objects.push({ apiVersion, kind: Kind.recoveryPlan, metadata: meta(name, mirrorRemote ? { [mirrorRemoteAnnotation]: mirrorRemote } : {}), spec: spec(plan) } as KubeObject);
    return objects;
  }

  private async copy(name: string, plan: StandbyPlan): Promise<void> {
    if (this.stopped) return;
    const objects = this.objects(name, plan);
    const key = createHash('sha256').update(JSON.stringify({ objects, destination: plan.context.destination.kubeconfig, context: plan.context.destination.context })).digest('hex');
    if (this.copied.get(name) === key) return;
    this.copied.set(name, key);
    clearTimeout(this.retries.get(name));
    const { namespace, log } = this.options;
    const client = await KubeClient.create(kubeConfigOf(plan.context.destination), { maxSockets: 2 });
    try {
      for (const object of objects) {
        const plural = resourceNames[object.kind as Kind].plural;
        orThrow(await apply(client.withRetry({ windowMs: 10_000 }), `/apis/${apiVersion}/namespaces/${namespace}/${plural}/${object.metadata.name}`, object, { fieldManager, force: true }));
      }
      log.info({ plan: name, cluster: plan.context.destination.name, namespace }, 'plan copied to the stand-by (its operator can recover it alone)');
    } catch (error) {
      this.copied.delete(name);
      log.warn({ plan: name, cluster: plan.context.destination.name, namespace, err: (error as Error).message, retryInSeconds: retryMs / 1000 }, 'cannot copy the plan to the stand-by; retrying');
      this.retries.set(name, setTimeout(() => {
        const current = this.latest.get(name);
        if (current) void this.copy(name, current);
      }, retryMs));
    } finally {
      client.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.poller);
    for (const timer of this.retries.values()) clearTimeout(timer);
    await this.polling;
  }
}
