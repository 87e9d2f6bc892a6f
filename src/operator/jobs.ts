// The RecoveryExecutionJob controller: every new job of the namespace runs exactly once, by one operator replica.
// A replica takes the job's Redis lease, then claims the job with a status update guarded by the resourceVersion it
// read (src/recovery/job.ts): a second replica fails one or the other and leaves the job alone. The runner holds the
// lease while the restorer runs; when it dies, the lease expires and another replica claims the job again and runs it
// to the end (recovery is idempotent: activation and restore converge). Jobs `lifeboat recover` runs itself are left
// to it. The outcome is the job's status (phase, Succeeded condition, counts, failures, recoverySeconds), an Event,
// and the metrics lifeboat_recovery_jobs_total and lifeboat_recovery_seconds.
import { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { type KubeObject, nameOf } from '../kube/ref.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { apiGroup, apiVersion, Kind, resourceNames, type RecoveryExecutionJob } from '../plan/schema.ts';
import { claimJob, jobCondition, operatorClaimant, runByAnnotation } from '../recovery/job.ts';
import { planRecoveryOptions, Restorer } from '../recovery/restorer.ts';
import { kubeConfigOf, type PlanContext } from '../runtime/plans.ts';
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import type { RecordEvent } from './events.ts';

/** How long a job's runner may be silent before another replica takes the job over (its lease's time to live). */
const leaseMs = 10_000;
/** How often Running jobs are looked at for a runner that died. */
const takeoverCheckMs = 2000;
/** At stop, how long running jobs are waited for; after that their leases expire and another replica continues. */
const stopWaitMs = 20_000;

export interface JobControllerOptions {
  client: KubeClient;
  namespace: string;
  /** This replica, as status.claimedBy and Events name it. */
  instance: string;
  log: Logger;
  state: StateStore;
  metrics: Metrics;
  /** The mirror, for a point-in-time restore (`spec.to`, `spec.at`). */
  mirror: MirrorRepository;
  identities: readonly string[];
  /** The plan a job recovers, as the operator judged it: what the restorer needs, or why it cannot run. */
  planOf(name: string): { context: PlanContext } | { error: string };
  recordEvent: RecordEvent;
  /** A job ended (the plan's status shows FailedOver soon). */
  onDone(plan: string): void;
  /**
   * Before each restore: brings the mirror up to date (the stand-by's operator fetches the mirror remote). What it
   * throws is logged and recorded as a Warning Event; the restore then uses the mirror as it is.
   */
  refreshMirror?: () => Promise<void>;
}

const finished = (job: RecoveryExecutionJob) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';

export class JobController {
  private readonly options: JobControllerOptions;
  private readonly log: Logger;
  private readonly informer: Informer;
  /** Jobs this replica runs now (or is claiming). */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: JobControllerOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'jobs' });
    this.informer = new Informer({
      client: options.client, path: this.collection, type: { group: apiGroup, version: apiVersion.split('/')[1]!, kind: Kind.recoveryExecutionJob },
      log: this.log, onChange: () => this.pass(),
    });
  }

  private get collection(): string {
    return `/apis/${apiVersion}/namespaces/${this.options.namespace}/${resourceNames[Kind.recoveryExecutionJob].plural}`;
  }

  get listed(): boolean {
    return this.informer.listed;
  }

  get failing(): { error: string } | undefined {
    return this.informer.failing;
  }

  start(): Promise<void> {
    this.informer.start();
    this.timer = setInterval(() => this.pass(), takeoverCheckMs);
    return this.informer.ready;
  }

  /** Every job that needs a runner: new ones, and Running ones whose operator replica stopped renewing its lease. */
  private pass(): void {
    if (this.stopped) return;
    for (const object of this.informer.objects().values()) {
      const job = object as unknown as RecoveryExecutionJob;
      const name = nameOf(object);
      if (finished(job) || this.running.has(name)) continue;
      if (job.metadata.annotations?.[runByAnnotation]) continue;
      const claimedBy = job.status?.claimedBy;
      if (job.status?.phase === 'Running' && !claimedBy?.startsWith(operatorClaimant)) continue; // `lifeboat recover` runs it
      const attempt = this.attempt(job).catch((error: Error) => this.log.error({ job: name, err: error.message }, 'cannot run the RecoveryExecutionJob; retrying'))
        .finally(() => this.running.delete(name));
      this.running.set(name, attempt);
    }
  }

  /** Lease, then claim; runs the job when both are this replica's. */
  private async attempt(job: RecoveryExecutionJob): Promise<void> {
    const name = job.metadata.name;
    const lease = this.options.state.lock(job.spec.plan, `job:${name}`, leaseMs);
    if (!(await lease.tryAcquire())) return; // another replica runs it
    try {
      const me = `${operatorClaimant}${this.options.instance}`;
      const takeover = job.status?.phase === 'Running' && job.status.claimedBy !== me ? job.status.claimedBy : undefined;
      const claimed = await claimJob(this.options.client, `${this.collection}/${name}`, job, me,
        takeover ? `taken over from ${takeover} (it stopped renewing its lease) by ${me}` : undefined);
      if (!claimed) return; // changed since it was read: the next pass decides again
      lease.keepAlive(() => this.log.warn({ job: name }, 'lost the lease of a running RecoveryExecutionJob (Redis unreachable?); another replica may continue it'));
      this.log.info({ job: name, plan: job.spec.plan, ...(takeover ? { takenOverFrom: takeover } : {}) }, 'running RecoveryExecutionJob');
      await this.execute(claimed);
    } finally {
      await lease.release();
    }
  }

  private async execute(job: RecoveryExecutionJob): Promise<void> {
    const { options } = this;
    const name = job.metadata.name;
    const path = `${this.collection}/${name}`;
    const plan = options.planOf(job.spec.plan);
    const object = job as unknown as KubeObject;
    if ('error' in plan) {
      await this.fail(path, plan.error);
      options.metrics.recoveryJobs.inc({ result: 'failed' });
      await options.recordEvent(object, { type: 'Warning', reason: 'RecoveryFailed', message: plan.error });
      return;
    }
    const { context } = plan;
    const spec = context.plan.spec;
    if ('error' in context.destination) {
      await this.fail(path, `RecoveryPlan ${job.spec.plan}: destination cluster: ${context.destination.error}`);
      options.metrics.recoveryJobs.inc({ result: 'failed' });
      return;
    }
    if (options.refreshMirror) {
      await options.refreshMirror().catch(async (error: Error) => {
        const message = `the mirror could not be brought up to date (${error.message}); recovering from the mirror as it is here`;
        this.log.warn({ job: name, err: error.message }, message);
        await options.recordEvent(object, { type: 'Warning', reason: 'MirrorNotRefreshed', message });
      });
    }
    const destination = await KubeClient.create(kubeConfigOf(context.destination), { maxSockets: Math.max(16, spec.sync.concurrency) + 4 });
    try {
      const restorer = new Restorer({
        ...planRecoveryOptions(job.spec.plan, spec), jobName: name, destination, repository: options.mirror, state: options.state,
        identities: options.identities, log: this.log.child({ job: name, plan: job.spec.plan }),
        job: { client: options.client, path }, startTime: job.status?.startTime, generation: (job.metadata as { generation?: number }).generation,
      });
      const request = { ...(job.spec.to ? { to: job.spec.to } : {}), ...(job.spec.at ? { at: job.spec.at } : {}), dryRun: job.spec.dryRun ?? false };
      let status;
      try {
        status = await restorer.run(request);
      } catch (error) {
        // Refused before anything changed (a revision the mirror lacks, a time before its first commit) or unrecordable.
        await this.fail(path, (error as Error).message);
        options.metrics.recoveryJobs.inc({ result: 'failed' });
        await options.recordEvent(object, { type: 'Warning', reason: 'RecoveryFailed', message: (error as Error).message });
        return;
      }
      const succeeded = status.phase === 'Succeeded';
      options.metrics.recoveryJobs.inc({ result: !succeeded ? 'failed' : request.dryRun ? 'dry_run' : 'succeeded' });
      if (!request.dryRun && status.recoverySeconds !== undefined) options.metrics.recoverySeconds.observe(status.recoverySeconds);
      this.log.info({ job: name, plan: job.spec.plan, phase: status.phase, seconds: status.recoverySeconds }, 'RecoveryExecutionJob done');
      await options.recordEvent(object, succeeded
        ? { type: 'Normal', reason: request.dryRun ? 'DryRunSucceeded' : 'Recovered', message: `${status.message ?? ''} in ${status.recoverySeconds?.toFixed(1)} s` }
        : { type: 'Warning', reason: 'RecoveryFailed', message: status.message ?? 'failed' });
    } finally {
      destination.close();
      options.onDone(job.spec.plan);
    }
  }

  /** Ends a job that could not start: Failed, with the reason. */
  private async fail(path: string, message: string): Promise<void> {
    this.log.warn({ job: path.split('/').pop(), err: message }, 'RecoveryExecutionJob failed');
    const status = { phase: 'Failed', message, completionTime: new Date().toISOString(), conditions: [jobCondition('False', 'RecoveryFailed', message)] };
    await this.options.client.withRetry({ windowMs: 60_000 }).request('PATCH', `${path}/status`, { status }, { contentType: 'application/merge-patch+json', discardBody: true });
  }

  /** Stops claiming; waits a while for the jobs it runs (past that, their leases expire and another replica continues). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.informer.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.running.values()), new Promise((resolve) => (timer = setTimeout(resolve, stopWaitMs)))]);
    clearTimeout(timer);
  }
}
