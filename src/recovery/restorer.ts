// The restorer: wakes a plan's stand-by. Needs only the destination (and the mirror for a point-in-time restore):
// it marks the plan failed over (so no synchronizer writes there any more), optionally makes the plan's objects equal
// to the mirror tree at a revision (apply, and delete plan-labelled objects absent there), then undoes every
// deactivation and, once the workloads' Services answer, applies what the sleeping stand-by held back (webhooks,
// APIServices, conversion webhooks: src/pipeline/hold.ts). Each step is recorded in a RecoveryExecutionJob in the destination, with counts per kind, failures
// with reasons, and the measured recovery time.
import fs from 'node:fs';
import os from 'node:os';
import { parse } from 'yaml';
import { apply, orThrow, read, remove } from '../kube/apply.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { ResourceIndex } from '../kube/discovery.ts';
import { describeRef, refOf, type KubeObject, type UnversionedRef } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { planLabel } from '../pipeline/exclusions.ts';
import { activationRank, backendsOf, conversionRestorePatch, heldObjectOf, holdNamespace, type HoldOptions, type ServiceRef } from '../pipeline/hold.ts';
import { listHolders, Synchronizer } from '../pipeline/synchronizer.ts';
import { parseDuration } from '../plan/duration.ts';
import type { RecoveryExecutionJob, RecoveryPlanSpec } from '../plan/schema.ts';
import type { SyncState } from '../state/state.ts';
import { mapLimit } from '../util/limit.ts';
import { quoteShort } from '../util/quote.ts';
import type { Logger } from '../util/log.ts';
import { activationPatch, type ActivationOptions } from './activate.ts';
import { claimJob, jobCondition, runByAnnotation, type JobTarget } from './job.ts';

/** Jobs live where holders do: lifeboat's one namespace at the stand-by. */
export const jobsNamespace = holdNamespace;
const jobsPath = `/apis/lifeboat.dev/v1alpha1/namespaces/${jobsNamespace}/recoveryexecutionjobs`;
const crdFile = new URL('../../manifests/crds/recoveryexecutionjobs.lifeboat.dev.yaml', import.meta.url);

export type JobStatus = NonNullable<RecoveryExecutionJob['status']>;
type Counts = NonNullable<JobStatus['counts']>;
type Failure = NonNullable<JobStatus['failures']>[number];

export interface RestorerOptions {
  plan: string;
  mirrorDir: string;
  jobName: string;
  destination: KubeClient;
  /** The mirror; required for a point-in-time restore. */
  repository: MirrorRepository | undefined;
  /** Redis when reachable (the failover flag then stops running synchronizers), else state for this command. */
  state: SyncState;
  identities: readonly string[];
  concurrency: number;
  /** The plan's `recovery.activate`. */
  activation?: ActivationOptions;
  /** The plan's `recovery.timeout`: the job fails when it runs longer. */
  timeoutMs?: number;
  /** The plan's `recovery.hold` and `recovery.backendTimeout` (src/pipeline/hold.ts). */
  hold?: HoldOptions;
  backendTimeoutMs?: number;
  log: Logger;
  /** The job, existing and claimed (the operator); absent: `run` creates it in the destination (`lifeboat recover`). */
  job?: JobTarget;
  /** The claimed job's startTime and metadata.generation (its conditions' observedGeneration). */
  startTime?: string;
  generation?: number;
}

/** What a plan's spec says about recovering it (mirror directory, concurrency, recovery.* settings). */
export function planRecoveryOptions(plan: string, spec: RecoveryPlanSpec): Pick<RestorerOptions, 'plan' | 'mirrorDir' | 'concurrency' | 'activation' | 'timeoutMs' | 'hold' | 'backendTimeoutMs'> {
  return {
    plan, mirrorDir: spec.mirror.path ?? plan, concurrency: Math.max(16, spec.sync.concurrency), activation: spec.recovery.activate,
    timeoutMs: parseDuration(spec.recovery.timeout), hold: spec.recovery.hold, backendTimeoutMs: parseDuration(spec.recovery.backendTimeout),
  };
}

export interface RecoveryRequest {
  to?: string;
  at?: string;
  dryRun: boolean;
}

/** recovery.timeout's default. */
const defaultTimeoutMs = 15 * 60_000;
const kindKey = (ref: Pick<UnversionedRef, 'group' | 'kind'>) => (ref.group ? `${ref.group}/${ref.kind}` : ref.kind);

/** RFC 3339 date-time, the form the RecoveryExecutionJob's `at` takes (Date.parse alone also takes "2026" or "May 1"). */
const rfc3339 = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/** A restore time as milliseconds since the epoch; anything but an RFC 3339 date-time is refused, named short. */
export function parseRestoreTime(time: string): number {
  const at = rfc3339.test(time) ? Date.parse(time) : Number.NaN;
  if (Number.isNaN(at)) throw new Error(`--at ${quoteShort(time)}: not an RFC 3339 time (e.g. 2026-11-24T10:00:00Z)`);
  return at;
}

/** The newest commit on the mirror branch made at or before `time` (RFC 3339). */
export async function revisionAt(repository: MirrorRepository, time: string): Promise<string> {
  const at = parseRestoreTime(time);
  const entry = (await repository.log()).find((commit) => commit.timestamp * 1000 <= at);
  if (!entry) throw new Error(`--at ${time}: the mirror has no commit at or before that time`);
  return entry.oid;
}

/** Installs (or updates) the RecoveryExecutionJob CRD in the destination and waits until it is served. */
export async function ensureJobDefinition(client: KubeClient): Promise<void> {
  const crd = parse(fs.readFileSync(crdFile, 'utf8')) as KubeObject;
  const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
  orThrow(await apply(client, path, crd, { fieldManager: 'lifeboat' }));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const current = await read<{ status?: { conditions?: { type: string; status: string }[] } }>(client, path);
    if (current?.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
    if (Date.now() > deadline) throw new Error('the RecoveryExecutionJob CRD did not become established in 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: jobsNamespace } });
  } catch (error) {
    if (!(error instanceof KubeError && error.code === 409)) throw error;
  }
}

export class Restorer {
  private readonly options: RestorerOptions;
  private readonly status: JobStatus = {};
  private readonly counts: Counts = {};
  private readonly failures: Failure[] = [];
  /** The destination, its requests retrying transient failures until the job's deadline (recovery.timeout). */
  private destination: KubeClient;
  /** The mirror revision a point-in-time restore goes to, resolved before anything changes. */
  private revision: string | undefined;
  /** Where the job's status is written (its client retrying while the job runs). */
  private job: JobTarget | undefined;
  private progress: Promise<void> = Promise.resolve();

  constructor(options: RestorerOptions) {
    this.options = options;
    this.destination = options.destination;
  }

  private count(kind: string, result: 'restored' | 'activated' | 'unchanged' | 'failed'): void {
    const entry = (this.counts[kind] ??= {});
    entry[result] = (entry[result] ?? 0) + 1;
  }

  private fail(ref: UnversionedRef, reason: string, message?: string): void {
    this.count(kindKey(ref), 'failed');
    if (this.failures.length < 1000) this.failures.push({ kind: kindKey(ref), ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, reason, ...(message ? { message } : {}) });
  }

  /**
   * Runs the job and records the outcome on it. With `options.job` the job exists and is claimed (the operator);
   * without, it is created in the destination (or an existing one of that name is claimed) first (`lifeboat recover`).
   */
  async run(request: RecoveryRequest): Promise<JobStatus> {
    const { plan, log } = this.options;
    // Everything a person can mistype is checked before the first side effect: a typo in --to or --at must leave
    // neither a failed-over plan (replication stopped) nor a Failed RecoveryExecutionJob behind.
    this.revision = await this.restorePoint(request);
    const started = Date.now();
    // A recovery never fails on a transient answer (a CRD's storage still initializing answers 429; an API server
    // paused or restarting refuses connections): every request retries until the job's own deadline.
    const policy = { until: started + (this.options.timeoutMs ?? defaultTimeoutMs) };
    this.destination = this.options.destination.withRetry(policy);
    if (this.options.job) this.job = { client: this.options.job.client.withRetry(policy), path: this.options.job.path };
    else {
      const created = await this.createJob(request);
      request = created.request;
      this.revision = await this.restorePoint(request);
    }
    Object.assign(this.status, { phase: 'Running', startTime: this.options.startTime ?? new Date(started).toISOString() });
    this.status.conditions = [jobCondition('Unknown', 'Running', `recovering plan ${plan}`, this.options.generation)];
    await this.record();
    let timer: NodeJS.Timeout | undefined;
    // Progress while it runs: counts per kind, written each second they changed (kubectl get -o yaml, the console).
    let written = '';
    const progress = setInterval(() => {
      const now = JSON.stringify(this.counts);
      if (now === written) return;
      written = now;
      this.progress = this.progress.then(() => this.record()).catch((error: Error) => log.warn({ err: error.message }, 'cannot record the job\'s progress'));
    }, 1000);
    try {
      const timeoutMs = this.options.timeoutMs;
      const timedOut = new Promise<never>((_, reject) => {
        if (timeoutMs) timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s (the plan's recovery.timeout)`)), timeoutMs);
      });
      await Promise.race([(async () => {
        if (!request.dryRun) await this.options.state.setValue(plan, 'failover', this.options.jobName);
        if (request.to || request.at) await this.restore(request);
        await this.activate(request.dryRun);
      })(), timedOut]);
      this.status.phase = this.failures.length ? 'Failed' : 'Succeeded';
      this.status.message = request.dryRun
        ? `dry run: ${this.summary()} (nothing changed)`
        : this.failures.length ? `${this.failures.length} objects failed: ${this.summary()}` : `the stand-by is active: ${this.summary()}`;
    } catch (error) {
      this.status.phase = 'Failed';
      this.status.message = (error as Error).message;
      log.error({ err: (error as Error).message }, 'recovery failed');
    } finally {
      clearTimeout(timer);
      clearInterval(progress);
      await this.progress;
    }
    // The outcome is recorded even when the deadline has passed.
    this.destination = this.options.destination;
    if (this.job && this.options.job) this.job = this.options.job;
    this.status.completionTime = new Date().toISOString();
    this.status.recoverySeconds = (Date.now() - started) / 1000;
    const succeeded = this.status.phase === 'Succeeded';
    this.status.conditions = [jobCondition(succeeded ? 'True' : 'False', succeeded ? (request.dryRun ? 'DryRunSucceeded' : 'Recovered') : 'RecoveryFailed', this.status.message ?? '', this.options.generation)];
    await this.record();
    return { ...this.status, counts: this.counts, failures: this.failures };
  }

  /** `lifeboat recover`: the job created in the destination, or an existing one of that name claimed (run as written). */
  private async createJob(request: RecoveryRequest): Promise<{ request: RecoveryRequest }> {
    const { jobName, plan } = this.options;
    const destination = this.destination;
    await ensureJobDefinition(destination);
    const path = `${jobsPath}/${jobName}`;
    this.job = { client: destination, path };
    const job = {
      apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob',
      // The operator leaves a job this command runs to it (it would otherwise claim it between create and claim).
      metadata: { name: jobName, namespace: jobsNamespace, labels: { [planLabel]: plan }, annotations: { [runByAnnotation]: 'recover' } },
      spec: { plan, ...(request.to ? { to: request.to } : {}), ...(request.at ? { at: request.at } : {}), dryRun: request.dryRun },
    };
    let existing: RecoveryExecutionJob;
    try {
      existing = await destination.request<RecoveryExecutionJob>('POST', jobsPath, job);
    } catch (error) {
      if (!(error instanceof KubeError && error.code === 409)) throw error;
      // A job a person created (kubectl apply): run it as it is written, once.
      existing = await destination.request<RecoveryExecutionJob>('GET', path);
      if (existing.spec.plan !== plan) throw new Error(`RecoveryExecutionJob ${jobsNamespace}/${jobName} is for plan ${existing.spec.plan}, not ${plan}`, { cause: error });
    }
    if (existing.status?.phase && existing.status.phase !== 'Pending') {
      const running = existing.status.phase === 'Running';
      throw new Error(`RecoveryExecutionJob ${jobsNamespace}/${jobName} already ${running ? 'runs' : 'ran'} (phase ${existing.status.phase}${running && existing.status.claimedBy ? `, claimed by ${existing.status.claimedBy}` : ''}); give another --name`);
    }
    // Claimed as the operator claims (src/recovery/job.ts): of two claimants, exactly one runs it.
    if (!(await claimJob(destination, path, existing, `recover/${os.userInfo().username}@${os.hostname()}`))) {
      throw new Error(`RecoveryExecutionJob ${jobsNamespace}/${jobName} was claimed by someone else just now (an operator?): follow it with kubectl get recoveryexecutionjob -n ${jobsNamespace} ${jobName} -w`);
    }
    return { request: { ...(existing.spec.to ? { to: existing.spec.to } : {}), ...(existing.spec.at ? { at: existing.spec.at } : {}), dryRun: existing.spec.dryRun ?? false } };
  }

  /** The revision a request restores to (undefined: activation only); throws, changing nothing, when it has none. */
  private async restorePoint(request: RecoveryRequest): Promise<string | undefined> {
    if (!request.to && !request.at) return undefined;
    const { repository } = this.options;
    if (!repository) throw new Error('a point-in-time restore needs the mirror (--mirror)');
    return request.to ? repository.resolve(request.to) : revisionAt(repository, request.at!);
  }

  private summary(): string {
    const totals = { restored: 0, activated: 0, failed: 0 };
    for (const entry of Object.values(this.counts)) {
      totals.restored += entry.restored ?? 0;
      totals.activated += entry.activated ?? 0;
      totals.failed += entry.failed ?? 0;
    }
    return `${totals.restored} restored, ${totals.activated} activated, ${totals.failed} failed`;
  }

  /** Writes the job's status (status subresource; a merge patch keeps what the claim wrote, claimedBy). */
  private async record(): Promise<void> {
    if (!this.job) return;
    const status = { ...this.status, counts: this.counts, failures: this.failures };
    await this.job.client.request('PATCH', `${this.job.path}/status`, { status }, { contentType: 'application/merge-patch+json', discardBody: true });
  }

  /** Point in time: the plan's objects in the destination become equal to the mirror tree at the revision. */
  private async restore(request: RecoveryRequest): Promise<void> {
    const { repository, plan, mirrorDir, state, identities, concurrency, log } = this.options;
    const destination = this.destination;
    const revision = this.revision ?? (await this.restorePoint(request));
    if (!repository || !revision) throw new Error('a point-in-time restore needs the mirror (--mirror)');
    this.status.revision = revision;
    await this.record();
    const synchronizer = new Synchronizer({ plan, mirrorDir, repository, client: destination, state, identities, concurrency, log, hold: this.options.hold });
    const report = await synchronizer.reconcile(request.dryRun ? 'detect' : 'correct', { revision, ignoreFailover: true });
    if (request.dryRun) {
      for (const ref of report.differing) this.count(kindKey(ref), 'restored');
      return;
    }
    for (const result of report.results) {
      if (result.action === 'failed' || result.action === 'skipped') this.fail(result.ref, result.action === 'skipped' ? 'NotOwned' : 'ApplyFailed', result.reason);
      else this.count(kindKey(result.ref), 'restored');
    }
    log.info({ revision: revision.slice(0, 12), restored: report.corrected }, 'restored the plan to the mirror revision');
  }

  /** Undoes every deactivation of the plan's objects: one labelled LIST per kind, one JSON patch per object. */
  private async activate(dryRun: boolean): Promise<void> {
    const { plan, jobName, concurrency } = this.options;
    const destination = this.destination;
    const index = await ResourceIndex.discover(destination);
    const sleeping: KubeObject[] = [];
    await mapLimit(index.listWatchable(), concurrency, async (resource) => {
      try {
        for await (const { items } of destination.listPages(index.path(resource, {}), resource, { labelSelector: `${planLabel}=${plan}` })) {
          sleeping.push(...items.filter((item) => item.metadata.annotations?.['lifeboat.dev/deactivated'] === 'true'));
        }
      } catch (error) {
        // A kind removed since discovery (its CRD deleted) has nothing to wake; any other failure fails the job.
        if (!(error instanceof KubeError && error.code === 404)) throw error;
      }
    });
    await mapLimit(sleeping, concurrency, async (object) => {
      const ref = refOf(object);
      try {
        const patch = activationPatch(object, jobName, this.options.activation);
        if (!patch) return this.count(kindKey(ref), 'unchanged');
        if (!dryRun) await destination.request('PATCH', index.objectPath(ref), patch, { contentType: 'application/json-patch+json', discardBody: true });
        this.count(kindKey(ref), 'activated');
      } catch (error) {
        this.fail(ref, 'ActivationFailed', error instanceof Error ? error.message : String(error));
        this.options.log.warn({ object: describeRef(ref), err: (error as Error).message }, 'cannot activate');
      }
    });
    await this.activateHeld(index, dryRun);
  }

  /**
   * What the sleeping stand-by held back (src/pipeline/hold.ts), once the workloads are awake: waits for their
   * backends' endpoints (at most `backendTimeout`), then gives CRDs their conversion webhooks back, applies the
   * APIServices and, last, the admission webhooks, each replacing its holder.
   */
  private async activateHeld(index: ResourceIndex, dryRun: boolean): Promise<void> {
    const { plan, log } = this.options;
    const destination = this.destination;
    const holders = await listHolders(destination, plan);
    const definitions: KubeObject[] = [];
    for await (const { items } of destination.listPages('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition' },
      { labelSelector: `${planLabel}=${plan}` })) definitions.push(...items.filter((crd) => conversionRestorePatch(crd) !== undefined));
    const held: { object: KubeObject; holder: KubeObject }[] = [];
    for (const holder of holders) {
      try {
        held.push({ object: heldObjectOf(holder), holder });
      } catch (error) {
        this.fail({ group: '', kind: 'ConfigMap', namespace: holdNamespace, name: holder.metadata.name ?? '' }, 'ActivationFailed', (error as Error).message);
      }
    }
    if (!held.length && !definitions.length) return;
    const backends = new Map<string, ServiceRef>();
    for (const object of [...definitions, ...held.map((entry) => entry.object)]) for (const service of backendsOf(object)) backends.set(`${service.namespace}/${service.name}`, service);
    if (!dryRun) {
      const waiting = await this.waitForEndpoints([...backends.values()], this.options.backendTimeoutMs ?? 120_000);
      if (waiting.length) log.warn({ services: waiting.map((service) => `${service.namespace}/${service.name}`) }, 'backends without ready endpoints after recovery.backendTimeout; activating their webhooks and APIServices anyway');
    }
    const activated = async (object: KubeObject, change: () => Promise<unknown>) => {
      const ref = refOf(object);
      try {
        if (!dryRun) await change();
        this.count(kindKey(ref), 'activated');
      } catch (error) {
        this.fail(ref, 'ActivationFailed', (error as Error).message);
        log.warn({ object: describeRef(ref), err: (error as Error).message }, 'cannot activate');
      }
    };
    await mapLimit(definitions, this.options.concurrency, (crd) => activated(crd, () => destination.request('PATCH', index.objectPath(refOf(crd)), conversionRestorePatch(crd),
      { contentType: 'application/json-patch+json', discardBody: true })));
    for (const rank of [...new Set(held.map((entry) => activationRank(entry.object)))].sort()) {
      await mapLimit(held.filter((entry) => activationRank(entry.object) === rank), this.options.concurrency, ({ object, holder }) => activated(object, async () => {
        orThrow(await apply(destination, index.objectPath(refOf(object)), object, { fieldManager: 'lifeboat' }));
        orThrow(await remove(destination, `/api/v1/namespaces/${holdNamespace}/configmaps/${holder.metadata.name}`));
      }));
    }
  }

  /** Waits until every Service has a ready endpoint, or the timeout; answers the Services still without one. */
  private async waitForEndpoints(services: ServiceRef[], timeoutMs: number): Promise<ServiceRef[]> {
    const deadline = Date.now() + timeoutMs;
    let waiting = services;
    for (;;) {
      const ready = await Promise.all(waiting.map((service) => this.destination.request<{ items: { endpoints?: { conditions?: { ready?: boolean } }[] }[] }>('GET',
        `/apis/discovery.k8s.io/v1/namespaces/${service.namespace}/endpointslices`, undefined, { query: { labelSelector: `kubernetes.io/service-name=${service.name}` } })
        .then((slices) => slices.items.some((slice) => slice.endpoints?.some((endpoint) => endpoint.conditions?.ready !== false)), () => false)));
      waiting = waiting.filter((_, index) => !ready[index]);
      if (!waiting.length || Date.now() >= deadline) return waiting;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, deadline - Date.now())));
    }
  }
}
