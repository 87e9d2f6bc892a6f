// `npm run bench`: throughput and lag of the replication pipeline on the sandbox, against a ceiling measured in the
// same run.
//
//   initial sync  N objects (ConfigMaps, Secrets, Deployments, Services, ServiceAccounts) in M fresh namespaces.
//                 Ceiling: their destination form (the plan's normalization and transforms, Secrets in plaintext)
//                 server-side applied straight to the destination by this process, at the plan's sync.concurrency,
//                 into `<namespace>-ceiling`. Lifeboat: a Runtime started on the same objects. Both are timed from
//                 start until the same destination watches (plan label) have seen every object; the ceiling's
//                 last-apply time is reported too.
//   steady lag    With the pipeline running, ConfigMaps are merge-patched at R changes/s for S seconds; the lag of a
//                 change is from just before its PATCH to the source until a destination watch shows the value
//                 (end to end), with lifeboat's own lifeboat_replication_lag_seconds observations alongside.
//
// Diagnostics, under the table and in the JSON: every lag-phase change followed through the pipeline's NATS
// subjects (time per stage), wall time in the mirror, state, bus and synchronizer methods, cores used by each
// sandbox process, event-loop delay, and (--cpu-profile) a V8 CPU profile of each lifeboat phase.
//
// Lifeboat runs in this process, so "peak RSS" is the bench process including lifeboat. Missed targets print FAIL;
// the exit code is non-zero only when the run itself failed. Everything the run created is removed at the end.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { Bus, durableName, streams, subjectFor } from '../src/bus/bus.ts';
import { KubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { ResourceIndex } from '../src/kube/discovery.ts';
import { refOf, type KubeObject } from '../src/kube/ref.ts';
import { createMetrics, type Metrics } from '../src/metrics/metrics.ts';
import { MirrorRepository } from '../src/mirror/repository.ts';
import { stagesOf } from '../src/pipeline/order.ts';
import { compilePlan, destinationForm, type CompiledPlan } from '../src/pipeline/processor.ts';
import { readIdentities } from '../src/runtime/plans.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { annotations, planLabel } from '../src/pipeline/transforms.ts';
import { formatPlanError, hasErrors, loadPlans, readPlanFiles } from '../src/plan/load.ts';
import { freePort } from '../src/sandbox/process.ts';
import { defaultSandboxDir, readState, sandboxUp, type SandboxInfo } from '../src/sandbox/sandbox.ts';
import { StateStore } from '../src/state/state.ts';
import { createLogger } from '../src/util/log.ts';
import { CollectionWatch, createNamespaces, deleteNamespaces, listAll, mapLimit, paced, sleep, type WatchEventType } from './kube.ts';
import { ChangeTracker, type StageBreakdown } from './changes.ts';
import { Destination } from '../src/pipeline/sync/destination.ts';
import { parseDuration } from '../src/plan/duration.ts';
import { MethodTimer, type MethodTiming } from './probes.ts';
import { recoveryBench, type RecoveryResult } from './recovery.ts';
import { cpuSecondsOf, distribution, machineInfo, mib, PhaseMeter, quantile, renderTable, RssSampler, type Distribution, type PhaseLoad, type Row } from './report.ts';
import { cliBench, type CliResult } from './cli.ts';
import { renderCli, renderColumns, renderTargets, targetRows, type PlacementFigures, type Spread, type TargetInputs } from './targets.ts';
import { keyOf, kinds, makeWorkload, runLabel, type Workload } from './workload.ts';
import { place, pinningUnavailable, type Placement } from './placement.ts';
import { veleroBench, veleroBinaries, type VeleroResult } from './velero.ts';
import { memory, rssBench, spawnLifeboatRun, stopChild, type RssResult } from './rss.ts';
import { directRateSearch, rateLimits, searchRate, type RateSearch } from './rate.ts';
import { jobsNamespace, Restorer } from '../src/recovery/restorer.ts';
import { silentLogger } from '../src/util/log.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const demoIdentityFile = path.join(repoRoot, 'plans', 'sandbox', 'demo-identity.txt');
const demoRecipient = 'age12ruvwe3f4fdkav59t5ue56p6djfq2rhjssy444v455c3zahgv9nsh5qclp';
const ceilingFieldManager = 'bench-ceiling';
const initialSyncDeadlineMs = 10 * 60_000;
const scaleSyncDeadlineMs = 30 * 60_000;
const settleDeadlineMs = 4 * 60_000;
const lagDrainDeadlineMs = 60_000;
const targets = { ratio: 1.2, lagP99Ms: 300, rateShare: 0.95, recoveryRatio: 1.1 };

interface Options {
  objects: number;
  namespaces: number;
  rate: number;
  duration: number;
  only: 'initial' | 'lag' | 'recovery' | 'cli' | 'velero' | 'rss' | 'scale' | undefined;
  /** Search the highest change rate lifeboat and direct writes hold (after the lag phase). */
  rateSearch: boolean;
  /** Objects in the memory phase's plan (`lifeboat run` as a child process); 0 skips it. */
  rssObjects: number;
  /** Objects of the one scale round (ceiling, then lifeboat run as a child process); 0 skips it. */
  scaleObjects: number;
  scaleNamespaces: number;
  /** Rounds of the initial sync (ceiling, then lifeboat), per placement. */
  rounds: number;
  /** The placements the initial-sync rounds run in (pinned needs 2 CPUs and taskset). */
  placements: Placement[];
  /** Run Velero's backup and restore beside lifeboat's initial sync and recover. */
  velero: boolean;
  /** Commits in the CLI phase's mirror. */
  cliCommits: number;
  /** Deactivated Deployments woken by the recovery scenario. */
  recoveryDeployments: number;
  json: string | undefined;
  concurrency: number;
  /** The plan's sync.commitInterval, as written in a plan (`200ms`). */
  commitInterval: string;
  createConcurrency: number;
  replicas: number;
  logLevel: string;
  keep: boolean;
  /** Directory for a V8 CPU profile of each lifeboat phase (initial sync, lag). */
  cpuProfile: string | undefined;
  /** File for every lag-phase change with its time at each stage (JSON lines). */
  trace: string | undefined;
  /** Pause the destination's kube-controller-manager during both timed initial-sync phases. */
  pauseControllers: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv, strict: true, allowPositionals: false,
    options: {
      objects: { type: 'string', default: '5000' },
      namespaces: { type: 'string', default: '50' },
      rate: { type: 'string', default: '100' },
      duration: { type: 'string', default: '60' },
      only: { type: 'string' },
      json: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      'commit-interval': { type: 'string', default: '200ms' },
      'create-concurrency': { type: 'string', default: '32' },
      replicas: { type: 'string', default: '1' },
      'log-level': { type: 'string', default: 'error' },
      keep: { type: 'boolean', default: false },
      'destination-controllers': { type: 'string', default: 'paused' },
      'cpu-profile': { type: 'string' },
      trace: { type: 'string' },
      'recovery-deployments': { type: 'string', default: '1000' },
      'cli-commits': { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '3' },
      pin: { type: 'string', default: 'both' },
      velero: { type: 'string', default: 'on' },
      'rss-objects': { type: 'string', default: '10000' },
      'scale-objects': { type: 'string', default: '50000' },
      'scale-namespaces': { type: 'string', default: '100' },
      'rate-search': { type: 'string', default: 'on' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm run bench -- [--objects N] [--namespaces M] [--rate R] [--duration S] [--only initial|lag|recovery|cli|velero|rss|scale] [--json PATH]
                         [--rounds N] [--pin both|pinned|unpinned] [--velero on|off] [--rss-objects N] [--scale-objects N] [--rate-search on|off]
                         [--concurrency C] [--commit-interval D] [--create-concurrency C] [--replicas K] [--log-level LEVEL] [--keep]

  --objects N             objects in the source (default 5000): 30% ConfigMaps, 20% Secrets, 20% Deployments,
                          15% Services (headless), 15% ServiceAccounts
  --namespaces M          fresh namespaces they are spread over (default 50)
  --rate R                ConfigMap changes per second in the lag phase (default 100)
  --duration S            seconds of changes in the lag phase (default 60)
  --only initial|lag|recovery|cli|velero  run one scenario (lag and velero still need lifeboat's initial sync, one
                          round without the ceiling)
  --rounds N              rounds of the initial sync, ceiling then lifeboat, in each placement (default 3); medians
                          and spread are reported
  --pin both|pinned|unpinned
                          pinned: the clusters' processes on CPU 0, lifeboat (this process), NATS and Redis on the
                          others (taskset); unpinned: anywhere; both (default): every round in each, interleaved
  --rss-objects N         objects synced by \`lifeboat run\` (a child process, bin/lifeboat.js) whose peak RSS is measured
                          (default 10000; 0 skips the memory phase)
  --scale-objects N       objects of one more round, after the others, in the judged placement: the ceiling, then
                          \`lifeboat run\` as a child process, timed alike, its peak RSS read (default 50000; 0 skips it)
  --scale-namespaces M    namespaces of that round (default 100)
  --rate-search on|off    after the lag phase, double the change rate from 100/s (10 s steps) until lifeboat's p99
                          passes 1 s, and the same for direct writes to the destination (default on)
  --velero on|off         Velero v1.18 backup + restore of the same objects, and lifeboat recover at a point in
                          time, after the other phases (default on; builds velero once with hack/build-velero.sh,
                          ~5 min, cached; off when Go is missing)
  --cli-commits N         commits in the CLI phase's mirror (default 10000)
  --recovery-deployments N     deactivated Deployments woken by the recovery scenario (default 1000)
  --json PATH             also write the results JSON here (always written to bench/results/)
  --concurrency C         the plan's sync.concurrency, and the ceiling's (default 16)
  --commit-interval D     the plan's sync.commitInterval: how long the mirror gathers changes into one commit (default 200ms)
  --create-concurrency C  requests in flight while creating the source objects (default 32)
  --replicas K            replicas of each source Deployment (default 1; the stand-by gets 0)
  --log-level LEVEL       lifeboat's log level, to stderr (default error)
  --keep                  keep the namespaces, mirror and state at the end (for inspection)
  --cpu-profile DIR       write a CPU profile (.cpuprofile, for Chrome DevTools) of each lifeboat phase to DIR
  --trace FILE            write every lag-phase change with its time at each stage (ms) to FILE, as JSON lines
  --destination-controllers paused|running
                          the destination's kube-controller-manager during the two timed initial-sync phases
                          (default paused: its ReplicaSets for the new Deployments then fall outside both windows
                          alike; running lets them fall where the apply order puts them, unevenly)`);
    process.exit(0);
  }
  const integer = (name: string, text: string | undefined, min: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer ≥ ${min} (got ${text})`);
    return value;
  };
  const positive = (name: string, text: string | undefined) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} must be a positive number (got ${text})`);
    return value;
  };
  const commitInterval = (text: string | undefined) => {
    try {
      if (parseDuration(text ?? '') > 0) return text!;
    } catch (error) {
      throw new UsageError(`--commit-interval: ${(error as Error).message}`);
    }
    throw new UsageError(`--commit-interval must be longer than 0 (got ${text})`);
  };
  if (values['destination-controllers'] !== 'paused' && values['destination-controllers'] !== 'running') throw new UsageError(`--destination-controllers must be paused or running (got ${values['destination-controllers']})`);
  if (values.only !== undefined && !['initial', 'lag', 'recovery', 'cli', 'velero', 'rss', 'scale'].includes(values.only)) throw new UsageError(`--only must be initial, lag, recovery, cli, velero, rss or scale (got ${values.only})`);
  if (!['both', 'pinned', 'unpinned'].includes(values.pin ?? '')) throw new UsageError(`--pin must be both, pinned or unpinned (got ${values.pin})`);
  if (values['rate-search'] !== 'on' && values['rate-search'] !== 'off') throw new UsageError(`--rate-search must be on or off (got ${values['rate-search']})`);
  if (values.velero !== 'on' && values.velero !== 'off') throw new UsageError(`--velero must be on or off (got ${values.velero})`);
  const options: Options = {
    objects: integer('objects', values.objects, 5), namespaces: integer('namespaces', values.namespaces, 1),
    rate: positive('rate', values.rate), duration: positive('duration', values.duration),
    only: values.only as Options['only'], json: values.json, rounds: integer('rounds', values.rounds, 1),
    placements: values.pin === 'both' ? ['unpinned', 'pinned'] : [values.pin as Placement], velero: values.velero === 'on', rssObjects: integer('rss-objects', values['rss-objects'], 0),
    scaleObjects: integer('scale-objects', values['scale-objects'], 0), scaleNamespaces: integer('scale-namespaces', values['scale-namespaces'], 1), rateSearch: values['rate-search'] === 'on', recoveryDeployments: integer('recovery-deployments', values['recovery-deployments'], 1), cliCommits: integer('cli-commits', values['cli-commits'], 1),
    concurrency: integer('concurrency', values.concurrency, 1), commitInterval: commitInterval(values['commit-interval']), createConcurrency: integer('create-concurrency', values['create-concurrency'], 1),
    replicas: integer('replicas', values.replicas, 0), logLevel: values['log-level'] ?? 'error', keep: values.keep ?? false,
    cpuProfile: values['cpu-profile'], trace: values.trace, pauseControllers: values['destination-controllers'] === 'paused',
  };
  if (options.namespaces > 999 || options.scaleNamespaces > 999) throw new UsageError('--namespaces and --scale-namespaces must be at most 999');
  return options;
}

class UsageError extends Error {}

const t0 = performance.now();

/** The sandbox's processes, for CPU accounting per phase. */
let sandboxPids: Record<string, number> = {};

function readSandboxPids(): Record<string, number> {
  const state = readState(defaultSandboxDir());
  if (!state) return {};
  const pids: Record<string, number | undefined> = { 'nats-server': state.nats.pid, redis: state.redis.pid };
  for (const [name, cluster] of Object.entries(state.clusters)) {
    pids[`${name}/etcd`] = cluster.pids.etcd;
    pids[`${name}/kube-apiserver`] = cluster.pids.apiserver;
    pids[`${name}/kube-controller-manager`] = cluster.pids.controllerManager;
  }
  return Object.fromEntries(Object.entries(pids).filter((entry): entry is [string, number] => entry[1] !== undefined));
}
/**
 * Runs a timed initial-sync phase with the destination's kube-controller-manager stopped (SIGSTOP), when asked, and
 * resumes it after. Both phases create 1,000 Deployments; the controller's ReplicaSets and status writes for them
 * load the same API server. The ceiling applies every Deployment last, so that load falls after its window; lifeboat
 * applies each listed page in kind order, so most of it falls inside. Paused, neither window carries it; the
 * settling after each phase (untimed) does.
 */
async function controllersPaused<T>(options: Options, phase: () => Promise<T>): Promise<T> {
  const pid = sandboxPids['destination/kube-controller-manager'];
  if (!options.pauseControllers || pid === undefined) return phase();
  const resume = () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  };
  process.kill(pid, 'SIGSTOP');
  process.once('exit', resume);
  try {
    return await phase();
  } finally {
    resume();
    process.off('exit', resume);
  }
}

function log(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

/** A V8 CPU profile of this process between start() and stop(), when a directory is given. */
class CpuProfile {
  private session: Session | undefined;
  private readonly file: string | undefined;

  constructor(dir: string | undefined, name: string) {
    this.file = dir ? path.resolve(dir, `${name}.cpuprofile`) : undefined;
  }

  async start(): Promise<void> {
    if (!this.file) return;
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
  }

  async stop(): Promise<void> {
    if (!this.session || !this.file) return;
    const { profile } = await this.session.post('Profiler.stop');
    this.session.disconnect();
    this.session = undefined;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(this.file, JSON.stringify(profile));
    log(`CPU profile: ${this.file}`);
  }
}

/** Cleanup steps, run last-registered first, each whatever the others did. */
class Cleanup {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];
  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }
  async run(): Promise<string[]> {
    const failures: string[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.run();
      } catch (error) {
        failures.push(`${step.what}: ${(error as Error).message}`);
        log(`cleanup: ${step.what} failed: ${(error as Error).message}`);
      }
    }
    return failures;
  }
}

async function client(info: SandboxInfo, context: string, maxSockets: number): Promise<KubeClient> {
  return KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context }), { maxSockets });
}

/** Waits until the controllers of a cluster made the ReplicaSets (and Pods) of the bench Deployments, or the deadline. */
async function settle(what: string, cluster: KubeClient, run: string, namespaces: Set<string>, expected: { replicaSets: number; pods: number }, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + settleDeadlineMs;
  for (;;) {
    signal.throwIfAborted();
    const count = async (collection: string) => (await listAll(cluster, collection, { labelSelector: `${runLabel}=${run}` })).items.filter((item) => namespaces.has(item.metadata.namespace ?? '')).length;
    const [replicaSets, pods] = await Promise.all([count('/apis/apps/v1/replicasets'), expected.pods > 0 ? count('/api/v1/pods') : Promise.resolve(0)]);
    if (replicaSets >= expected.replicaSets && pods >= expected.pods) break;
    if (Date.now() > deadline) {
      log(`${what}: still ${replicaSets}/${expected.replicaSets} ReplicaSets, ${pods}/${expected.pods} Pods after ${settleDeadlineMs / 1000}s; going on`);
      break;
    }
    await sleep(2000);
  }
  const seconds = (performance.now() - started) / 1000;
  log(`${what}: settled in ${seconds.toFixed(1)}s`);
  return seconds;
}

function writePlans(plansDir: string, info: SandboxInfo, plan: string, run: string, concurrency: number, commitInterval: string): void {
  fs.mkdirSync(plansDir, { recursive: true });
  const cluster = (name: string, context: string) => ({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  });
  fs.writeFileSync(path.join(plansDir, 'clusters.yaml'), `${stringify(cluster('source', 'source-reader'))}---\n${stringify(cluster('destination', 'destination-writer'))}`);
  fs.writeFileSync(path.join(plansDir, `${plan}.yaml`), stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan },
    spec: {
      source: { cluster: 'source' }, destination: { cluster: 'destination' },
      resources: { include: [{ namespaces: [`${run}-*`] }, { kinds: ['Namespace'], names: [`${run}-*`] }] },
      transforms: [{ deactivate: {} }],
      secrets: { mode: 'encrypt', recipients: [demoRecipient] },
      sync: { commitInterval, maxBatch: 1000, concurrency },
    },
  }));
}

async function compiledPlan(plansDir: string, plan: string): Promise<CompiledPlan> {
  const set = loadPlans(await readPlanFiles([plansDir]));
  if (hasErrors(set)) throw new Error(`the bench plan is invalid:\n${set.errors.map(formatPlanError).join('\n')}`);
  const recoveryPlan = set.plans.get(plan);
  if (!recoveryPlan) throw new Error(`plan ${plan} not loaded`);
  return compilePlan(recoveryPlan);
}

/** Source objects of the run as the API server returns them (apiVersion and kind filled in, as the listener does). */
async function sourceObjects(source: KubeClient, run: string): Promise<KubeObject[]> {
  const lists = await Promise.all(kinds.map(async (spec) => (await listAll(source, spec.collection, { labelSelector: `${runLabel}=${run}` })).items
    .map((item) => ({ ...item, apiVersion: spec.apiVersion, kind: spec.kind }))));
  return lists.flat();
}

interface CeilingResult {
  objects: number;
  /** Until the destination watches had seen every object (the figure the ratio uses). */
  seconds: number;
  /** Until the last apply returned. */
  appliedSeconds: number;
  objectsPerSecond: number;
  load: PhaseLoad;
  peakRssMiB: number;
  failed: number;
  settleSeconds: number;
}

async function ceiling(info: SandboxInfo, options: Options, workload: Workload, plan: CompiledPlan, destinationAdmin: KubeClient, rss: RssSampler, signal: AbortSignal): Promise<CeilingResult> {
  const source = await client(info, 'source', 16);
  const writer = await client(info, 'destination-writer', options.concurrency + 8);
  try {
    const objects = await sourceObjects(source, workload.run);
    if (objects.length !== workload.objects.length) throw new Error(`the source has ${objects.length} of the ${workload.objects.length} bench objects`);
    // What the synchronizer applies: the destination form (Secrets decrypted: here never encrypted), plus the plan
    // label and revision annotation; only the namespace differs.
    const revision = randomBytes(20).toString('hex');
    const forms = objects.map((object) => {
      const form = destinationForm(plan, object, true);
      form.metadata.namespace = `${form.metadata.namespace}-ceiling`;
      form.metadata.labels = { ...(form.metadata.labels ?? {}), [planLabel]: `${plan.name}-ceiling` };
      form.metadata.annotations = { ...(form.metadata.annotations ?? {}), [annotations.revision]: revision };
      return form;
    });
    const namespaces = workload.namespaces.map((namespace) => `${namespace}-ceiling`);
    await createNamespaces(destinationAdmin, namespaces, { [runLabel]: workload.run }, 16);
    const index = await ResourceIndex.discover(writer);
    const ordered = stagesOf(forms.map((form) => ({ ...refOf(form), form })), 'apply').flatMap((group) => group.refs.map((ref) => ref.form));
    log(`ceiling: applying ${ordered.length} objects to the destination, ${options.concurrency} in flight`);
    rss.mark('ceiling');
    // Timed like lifeboat: until the same destination watches have seen every object (the watches load the
    // destination API server in both phases alike).
    const tracker = new DestinationTracker(workload, false);
    await tracker.start(destinationAdmin, `${plan.name}-ceiling`, new Set(namespaces));
    const meter = new PhaseMeter(sandboxPids);
    const started = performance.now();
    let failed = 0;
    let appliedSeconds = 0;
    await controllersPaused(options, async () => {
      await mapLimit(ordered, options.concurrency, async (form) => {
        const ref = refOf(form);
        try {
          await writer.request('PATCH', index.path(ref, { namespace: ref.namespace, name: ref.name }), form, {
            contentType: 'application/apply-patch+yaml', query: { fieldManager: ceilingFieldManager, force: true }, discardBody: true, // as lifeboat does
          });
        } catch (error) {
          failed++;
          if (failed <= 5) log(`ceiling: ${ref.kind} ${ref.namespace}/${ref.name}: ${(error as Error).message}`);
        }
      }, signal);
      appliedSeconds = (performance.now() - started) / 1000;
      const seenDeadline = performance.now() + 60_000;
      while (!failed && !tracker.complete && performance.now() < seenDeadline) await sleep(20);
    });
    await tracker.stop();
    if (!failed && !tracker.complete) throw new Error(`ceiling: the destination watches saw ${tracker.objects} of the ${ordered.length} applied objects within 60s`);
    const seconds = ((tracker.completedAt ?? performance.now()) - started) / 1000;
    const load = meter.stop();
    const peakRssMiB = mib(rss.peaks.ceiling ?? rss.sample());
    rss.mark('settle');
    log(`ceiling: ${ordered.length} objects in the destination after ${seconds.toFixed(1)}s (${(ordered.length / seconds).toFixed(1)}/s; the last apply returned at ${appliedSeconds.toFixed(1)}s)${failed ? `, ${failed} failed` : ''}`);
    if (failed) throw new Error(`the ceiling could not apply ${failed} objects`);
    // Let the destination's controllers finish reacting (a ReplicaSet per Deployment) before lifeboat is timed.
    const settleSeconds = await settle('destination after the ceiling', destinationAdmin, workload.run, new Set(namespaces), { replicaSets: workload.counts.Deployment ?? 0, pods: 0 }, signal);
    return { objects: ordered.length, seconds, appliedSeconds, objectsPerSecond: ordered.length / seconds, load, peakRssMiB, failed, settleSeconds };
  } finally {
    source.close();
    writer.close();
  }
}

/** A counter's total for one plan (prom-client: get() lists every label set). */
async function total(metric: { get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }> }, plan: string, filter: (labels: Record<string, string | number>) => boolean = () => true): Promise<number> {
  return (await metric.get()).values.filter((entry) => entry.labels.plan === plan && filter(entry.labels)).reduce((sum, entry) => sum + entry.value, 0);
}

interface Progress {
  seconds: number;
  events: number;
  processed: number;
  commits: number;
  applied: number;
  inDestination: number;
  rssMiB: number;
}

async function progressOf(metrics: Metrics, plan: string, elapsedMs: number, inDestination: number): Promise<Progress> {
  return {
    seconds: Math.round(elapsedMs / 100) / 10,
    events: await total(metrics.events, plan),
    processed: await total(metrics.objects, plan),
    commits: await total(metrics.commits, plan),
    applied: await total(metrics.applies, plan, (labels) => labels.action === 'created' || labels.action === 'configured'),
    inDestination,
    rssMiB: Math.round(mib(process.memoryUsage().rss)),
  };
}

/** Destination watches (plan label) of every bench kind and the namespaces; they count what has arrived. */
class DestinationTracker {
  readonly seen = new Map<string, Set<string>>();
  private readonly expected: Map<string, number>;
  private readonly watches: CollectionWatch[] = [];
  completedAt: number | undefined;
  onConfigMap: ((type: WatchEventType, object: KubeObject, at: number) => void) | undefined;

  /** `namespaces`: whether the run's Namespaces are expected too (not for the ceiling: it creates them untimed). */
  constructor(workload: Workload, namespaces = true) {
    this.expected = new Map([...kinds.map((spec) => [spec.kind, workload.counts[spec.kind] ?? 0] as const), ['Namespace', namespaces ? workload.namespaces.length : 0] as const]);
    for (const kind of this.expected.keys()) this.seen.set(kind, new Set());
  }

  get objects(): number {
    return [...this.seen].filter(([kind]) => kind !== 'Namespace').reduce((sum, [, keys]) => sum + keys.size, 0);
  }

  /** Objects expected, namespaces not counted. */
  get expectedObjects(): number {
    return [...this.expected].filter(([kind]) => kind !== 'Namespace').reduce((sum, [, count]) => sum + count, 0);
  }

  private isComplete(): boolean {
    return [...this.expected].every(([kind, count]) => (this.seen.get(kind)?.size ?? 0) >= count);
  }

  get complete(): boolean {
    return this.completedAt !== undefined && this.isComplete();
  }

  async start(destination: KubeClient, plan: string, namespaces: Set<string>): Promise<void> {
    const collections = [...kinds.map((spec) => ({ kind: spec.kind, collection: spec.collection })), { kind: 'Namespace', collection: '/api/v1/namespaces' }];
    for (const { kind, collection } of collections) {
      const keys = this.seen.get(kind)!;
      const expected = this.expected.get(kind)!;
      if (expected === 0) continue;
      const watch = new CollectionWatch(destination, collection, { labelSelector: `${planLabel}=${plan}` }, (type, object, at) => {
        const inRun = kind === 'Namespace' ? namespaces.has(object.metadata.name ?? '') : namespaces.has(object.metadata.namespace ?? '');
        if (!inRun) return;
        const key = keyOf(object);
        if (type === 'DELETED') keys.delete(key);
        else keys.add(key);
        if (keys.size >= expected && this.completedAt === undefined && this.isComplete()) this.completedAt = at;
        if (kind === 'ConfigMap') this.onConfigMap?.(type, object, at);
      });
      await watch.start();
      this.watches.push(watch);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((watch) => watch.stop()));
  }
}

interface Round {
  round: number;
  placement: Placement;
  ceiling: CeilingResult | undefined;
  initial: InitialResult;
  /** lifeboat ÷ ceiling of this round. */
  ratio: number | undefined;
}

/** The rounds of one placement (see PlacementFigures), and the round with the median ratio. */
interface PlacementSummary extends PlacementFigures {
  placement: Placement;
  medianRound: Round;
}

function spread(values: readonly number[]): Spread {
  return { median: quantile(values, 0.5)!, min: Math.min(...values), max: Math.max(...values) };
}

function summarize(rounds: readonly Round[], objects: number): PlacementSummary[] {
  const placements = [...new Set(rounds.map((round) => round.placement))];
  return placements.map((placement) => {
    const mine = rounds.filter((round) => round.placement === placement && round.initial.complete);
    const all = mine.length ? mine : rounds.filter((round) => round.placement === placement);
    const per1000 = (seconds: number) => (seconds / objects) * 1000;
    const ceilings = all.flatMap((round) => (round.ceiling ? [round.ceiling] : []));
    const ratios = all.flatMap((round) => (round.ratio === undefined ? [] : [round.ratio]));
    const ratio = ratios.length ? spread(ratios) : undefined;
    const medianRound = ratio ? all.find((round) => round.ratio === ratio.median)! : all.find((round) => round.initial.seconds === spread(all.map((r) => r.initial.seconds)).median)!;
    return {
      placement, rounds: all.length, ratio, medianRound,
      ceilingSeconds: ceilings.length ? spread(ceilings.map((ceiling) => ceiling.seconds)) : undefined,
      lifeboatSeconds: spread(all.map((round) => round.initial.seconds)),
      lifeboatCpuPer1000: spread(all.map((round) => per1000(round.initial.load.processCpuSeconds))),
      engineCpuPer1000: spread(all.map((round) => per1000(round.initial.engineCpuSeconds ?? 0))),
      ceilingCpuPer1000: ceilings.length ? spread(ceilings.map((ceiling) => per1000(ceiling.load.processCpuSeconds))) : undefined,
    };
  });
}

/**
 * Creates the workload in the source (its namespaces, then its objects by kind), untimed by the rounds, and waits
 * until the source's controllers have made every Deployment's ReplicaSet and Pods: nothing of theirs falls into a
 * timed phase. `label` starts the log lines.
 */
async function createSourceWorkload(source: KubeClient, workload: Workload, options: Options, label: string, signal: AbortSignal): Promise<{ seconds: number; objectsPerSecond: number; settleSeconds: number }> {
  await createNamespaces(source, workload.namespaces, { [runLabel]: workload.run }, 16);
  const started = performance.now();
  await mapLimit(workload.objects, options.createConcurrency, (object) => source.request('POST', kinds.find((spec) => spec.kind === object.kind)!.namespaced(object.metadata.namespace!), object), signal);
  const seconds = (performance.now() - started) / 1000;
  log(`${label}: created ${workload.objects.length} objects in ${seconds.toFixed(1)}s (${(workload.objects.length / seconds).toFixed(1)}/s, untimed)`);
  const deployments = workload.counts.Deployment ?? 0;
  const settleSeconds = await settle(`${label} controllers`, source, workload.run, new Set(workload.namespaces), { replicaSets: deployments, pods: deployments * options.replicas }, signal);
  return { seconds, objectsPerSecond: workload.objects.length / seconds, settleSeconds };
}

/** Deletes the namespaces from the destination between rounds and waits until they are gone (the next round creates them). */
async function emptyDestination(destination: KubeClient, namespaces: readonly string[]): Promise<void> {
  const started = performance.now();
  const left = await deleteNamespaces(destination, namespaces, 300_000);
  if (left) throw new Error(`${left} namespaces still terminating in the destination after 300 s; the next round cannot start`);
  log(`destination: ${namespaces.length} namespaces deleted in ${((performance.now() - started) / 1000).toFixed(1)}s (untimed)`);
}

interface ScalePhase {
  objects: number;
  namespaces: number;
  ceiling: CeilingResult;
  /** `lifeboat run` (a child process): from its start until the destination watches saw every object. */
  lifeboat: { seconds: number; complete: boolean; objects: number; expectedObjects: number; peakMiB: number; cpuSeconds: number | undefined };
  ratio: number;
  placement: Placement;
  /** lifeboat's median time in the main rounds of the same placement (--objects, 5,000 by default), and its ratio to this. */
  mainSeconds: number | undefined;
  mainObjects: number;
  timeRatio: number | undefined;
}

/**
 * One round at `--scale-objects` (default 50,000) in the judged placement: the ceiling, then `lifeboat run` as a child
 * process started by bin/lifeboat.js, timed the same way (until the destination watches saw every object), its peak
 * RSS (VmHWM) read when done: the 50,000-object rows of the targets. Its own namespaces, created untimed.
 */
async function scalePhase(info: SandboxInfo, options: Options, run: string, placement: Placement, mainSeconds: number | undefined, source: KubeClient, destination: KubeClient, rss: RssSampler, cleanup: Cleanup, signal: AbortSignal): Promise<ScalePhase> {
  const scaleRun = `${run}x`;
  const workload = makeWorkload(scaleRun, options.scaleObjects, options.scaleNamespaces, options.replicas);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${scaleRun}-`));
  let child: ChildProcess | undefined;
  cleanup.add(`scale: stop lifeboat run, delete ${scaleRun}-* in both clusters, forget its state`, async () => {
    await stopChild(child);
    if (options.keep) return log(`scale: kept namespaces ${scaleRun}-* and ${dir}`);
    const [left, leftDestination] = await Promise.all([
      deleteNamespaces(source, workload.namespaces, 300_000),
      deleteNamespaces(destination, [...workload.namespaces, ...workload.namespaces.map((namespace) => `${namespace}-ceiling`)], 300_000),
    ]);
    if (left || leftDestination) log(`scale: ${left + leftDestination} namespaces still terminating; the clusters finish deleting them`);
    const state = await StateStore.connect(info.redisUrl);
    await state.forget(scaleRun).finally(() => state.close());
    const bus = await Bus.connect(info.natsUrl, 'lifeboat-bench');
    await bus.removePlan(scaleRun).finally(() => bus.close());
    fs.rmSync(dir, { recursive: true, force: true });
  });
  log(`scale: ${workload.objects.length} objects in ${workload.namespaces.length} namespaces (${Object.entries(workload.counts).map(([kind, count]) => `${count} ${kind}`).join(', ')})`);
  await place('unpinned', sandboxPids);
  await createSourceWorkload(source, workload, options, 'scale: source', signal);

  await place(placement, sandboxPids);
  const plansDir = path.join(dir, 'plans');
  writePlans(plansDir, info, scaleRun, scaleRun, options.concurrency, options.commitInterval);
  const ceilingResult = await ceiling(info, options, workload, await compiledPlan(plansDir, scaleRun), destination, rss, signal);
  await emptyDestination(destination, workload.namespaces.map((namespace) => `${namespace}-ceiling`));

  const tracker = new DestinationTracker(workload);
  await tracker.start(destination, scaleRun, new Set(workload.namespaces));
  cleanup.add('scale: stop the destination watches', () => tracker.stop());
  const port = await freePort();
  log(`scale: lifeboat run (a child process, ${placement}; plan ${scaleRun}, sync.concurrency ${options.concurrency})`);
  const lifeboat = await controllersPaused(options, async () => {
    const started = performance.now();
    child = spawnLifeboatRun(info, plansDir, path.join(dir, 'mirror.git'), port);
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    const deadline = started + scaleSyncDeadlineMs;
    let lastLog = started;
    while (!tracker.complete && performance.now() < deadline && child.exitCode === null && child.signalCode === null) {
      signal.throwIfAborted();
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`scale: ${tracker.objects}/${tracker.expectedObjects} objects in the destination after ${((lastLog - started) / 1000).toFixed(0)}s, lifeboat run RSS ${memory(child.pid!).rss.toFixed(0)} MB`);
      }
      await sleep(50);
    }
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`scale: lifeboat run exited (${child.exitCode ?? child.signalCode}) before the destination had every object`);
    const seconds = ((tracker.complete ? tracker.completedAt! : performance.now()) - started) / 1000;
    const peak = memory(child.pid!).hwm;
    const cpuSeconds = cpuSecondsOf(child.pid!);
    await stopChild(child);
    await exited;
    return { seconds, complete: tracker.complete, objects: tracker.objects, expectedObjects: tracker.expectedObjects, peakMiB: peak, cpuSeconds };
  });
  await tracker.stop();
  await place('unpinned', sandboxPids);
  const ratio = lifeboat.seconds / ceilingResult.seconds;
  const timeRatio = mainSeconds === undefined ? undefined : lifeboat.seconds / mainSeconds;
  log(`scale: ceiling ${ceilingResult.seconds.toFixed(1)} s, lifeboat ${lifeboat.seconds.toFixed(1)} s${lifeboat.complete ? '' : ' (timed out)'}, ratio ${ratio.toFixed(2)}${timeRatio === undefined ? '' : `, ${timeRatio.toFixed(1)}× its time at ${options.objects}`}; lifeboat run peak RSS ${lifeboat.peakMiB.toFixed(0)} MB`);
  return { objects: workload.objects.length, namespaces: workload.namespaces.length, ceiling: ceilingResult, lifeboat, ratio, placement, mainSeconds, timeRatio, mainObjects: options.objects };
}

interface VeleroPhase {
  /** Why Velero did not run (no Go, the build failed): the comparison is then lifeboat's side alone. */
  notRun?: string;
  velero?: VeleroResult;
  /** `lifeboat recover` at a point in time (the stand-by woken at the latest mirror revision at or before now). */
  recover?: { seconds: number; phase: string; revision: string | undefined; awake: number; deployments: number };
}

async function veleroPhase(info: SandboxInfo, options: Options, workload: Workload, source: KubeClient, destination: KubeClient, live: { pipeline: Pipeline; plan: string }, signal: AbortSignal): Promise<VeleroPhase> {
  let binaries;
  try {
    binaries = await veleroBinaries(log);
  } catch (error) {
    log(`velero: not run: ${(error as Error).message}`);
    return { notRun: (error as Error).message };
  }
  const result: VeleroPhase = { velero: await veleroBench({ binaries, kubeconfig: info.kubeconfig, source, destination, workload, sandboxPids, log, signal }) };
  const writer = await client(info, 'destination-writer', options.concurrency + 8);
  const jobName = `bench-${live.plan}-at`;
  try {
    const at = new Date().toISOString();
    log(`lifeboat: recover ${live.plan} --at ${at}`);
    const started = performance.now();
    const restorer = new Restorer({
      plan: live.plan, mirrorDir: live.plan, jobName, destination: writer, repository: live.pipeline.mirror, state: live.pipeline.state,
      identities: readIdentities([demoIdentityFile]), concurrency: options.concurrency, log: silentLogger,
    });
    const status = await restorer.run({ at, dryRun: false });
    const seconds = (performance.now() - started) / 1000;
    const namespaces = new Set(workload.namespaces);
    const deployments = (await listAll<{ metadata: { namespace?: string }; spec: { replicas?: number } }>(destination, '/apis/apps/v1/deployments', { labelSelector: `${planLabel}=${live.plan}` })).items.filter((item) => namespaces.has(item.metadata.namespace ?? ''));
    const awake = deployments.filter((item) => (item.spec.replicas ?? 1) === options.replicas).length;
    log(`lifeboat: recover --at: ${status.phase} in ${seconds.toFixed(1)} s, ${awake} of ${deployments.length} Deployments awake`);
    result.recover = { seconds, phase: status.phase ?? '?', revision: status.revision, awake, deployments: deployments.length };
    return result;
  } finally {
    await destination.request('DELETE', `/apis/lifeboat.dev/v1alpha1/namespaces/${jobsNamespace}/recoveryexecutionjobs/${jobName}`).catch(() => undefined);
    writer.close();
  }
}

interface Results {
  sourceCreate?: { seconds: number; objectsPerSecond: number; settleSeconds: number };
  rounds?: Round[];
  placements?: PlacementSummary[];
  /** The median round of the last placement (pinned when it ran): what the table and the targets show. */
  ceiling?: CeilingResult;
  initial?: InitialResult;
  lag?: LagResult;
  recovery?: RecoveryResult;
  cli?: CliResult;
  velero?: VeleroPhase;
  /** The highest change rates held with p99 ≤ 1 s. */
  rates?: { lifeboat: RateSearch; direct: RateSearch };
  /** Peak RSS of \`lifeboat run\` (a child process) through an initial sync. */
  memory?: RssResult;
  /** One round at --scale-objects (50,000): ceiling, lifeboat run, its peak RSS. */
  scale?: ScalePhase;
}

interface InitialResult {
  /** CPU seconds NATS and Redis used during the phase (lifeboat's engine). */
  engineCpuSeconds?: number;
  /** False when the deadline passed first: `objects` is then what had arrived. */
  complete: boolean;
  expectedObjects: number;
  objects: number;
  namespaces: number;
  seconds: number;
  objectsPerSecond: number;
  readySeconds: number | undefined;
  load: PhaseLoad;
  peakRssMiB: number;
  commits: number;
  verifiedCounts: Record<string, number>;
  diagnostics: PipelineDiagnostics;
  timeline: Progress[];
}

interface LagResult {
  requestedRate: number;
  requestedSeconds: number;
  changes: number;
  sent: number;
  sendErrors: number;
  achievedRate: number;
  sendSeconds: number;
  unseen: number;
  endToEndMs: Distribution;
  metricMs: Distribution;
  /** Where the time goes, stage by stage (p50/p99 of each). */
  stages: StageBreakdown;
  diagnostics: PipelineDiagnostics;
  load: PhaseLoad;
  peakRssMiB: number;
  commits: number;
}

interface Pipeline {
  runtime: Runtime;
  metrics: Metrics;
  state: StateStore;
  bus: Bus;
  mirror: MirrorRepository;
  lagValues: number[] | undefined;
  /** Raw lifeboat_mirror_commit_duration_seconds observations (ms) of the current phase. */
  commitDurations: number[];
  /** Synchronizer passes of the current phase: duration (ms) and objects applied. */
  passes: { ms: number; results: number }[];
  /** Wall time in the pipeline's mirror, state, bus and synchronizer methods, for the current phase. */
  timer: MethodTimer;
}

interface ConsumerState {
  /** Messages JetStream delivered more than once (ack wait expired, or nak). */
  redelivered: number;
  ackPending: number;
  pending: number;
}

interface PipelineDiagnostics {
  /** The plan's durable consumers at the end of the phase. */
  consumers: Record<string, ConsumerState>;
  mirrorCommitMs: Distribution;
  synchronizerPassMs: Distribution;
  objectsPerPass: Distribution;
  methods: Record<string, MethodTiming>;
}

async function consumerStates(bus: Bus, plan: string): Promise<Record<string, ConsumerState>> {
  const states: Record<string, ConsumerState> = {};
  for (const [stream, durable] of [['events', 'processor'], ['objects', 'mirror'], ['commits', 'synchronizer']] as const) {
    const info = await bus.jsm.consumers.info(streams[stream].name, durableName(durable, plan)).catch(() => undefined);
    if (info) states[durable] = { redelivered: info.num_redelivered, ackPending: info.num_ack_pending, pending: info.num_pending };
  }
  return states;
}

async function pipelineDiagnostics(pipeline: Pipeline, plan: string): Promise<PipelineDiagnostics> {
  return {
    consumers: await consumerStates(pipeline.bus, plan),
    mirrorCommitMs: distribution(pipeline.commitDurations), synchronizerPassMs: distribution(pipeline.passes.map((pass) => pass.ms)),
    objectsPerPass: distribution(pipeline.passes.map((pass) => pass.results)),
    methods: pipeline.timer.summary(),
  };
}

async function startPipeline(info: SandboxInfo, options: Options, plan: string, dir: string, cleanup: Cleanup): Promise<Pipeline> {
  const mirror = await MirrorRepository.open(path.join(dir, 'mirror.git'));
  const state = await StateStore.connect(info.redisUrl);
  cleanup.add('close Redis', () => state.close());
  cleanup.add('forget the plan state', () => options.keep ? Promise.resolve() : state.forget(plan));
  const bus = await Bus.connect(info.natsUrl, 'lifeboat-bench');
  cleanup.add('close NATS', () => bus.close());
  cleanup.add('remove the plan from JetStream', () => options.keep ? Promise.resolve() : forgetJetStream(bus, plan));
  const metrics = createMetrics();
  const pipeline: Pipeline = {
    runtime: new Runtime({
      plans: path.join(dir, 'plans'), mirror, bus, state, metrics, identities: readIdentities([demoIdentityFile]), planPollMs: 500,
      log: createLogger({ level: options.logLevel }),
      // Diagnostics: each synchronizer pass, from planned to recorded (passes overlap), through the public hook.
      onPass: (pass) => pipeline.passes.push({ ms: pass.durationMs, results: pass.applied + pass.deleted + pass.failed }),
    }),
    metrics, state, bus, mirror, lagValues: undefined, commitDurations: [], passes: [], timer: new MethodTimer(),
  };
  for (const method of ['head', 'files', 'diff', 'readText', 'commit']) pipeline.timer.wrap(mirror, method, `mirror.${method}`);
  for (const method of ['inventory', 'failures', 'recordApplied', 'recordFailures', 'saveCheckpoint', 'getValue', 'setValue']) pipeline.timer.wrap(state, method, `state.${method}`);
  pipeline.timer.wrap(bus, 'publish', (args) => `bus.publish ${String(args[0])}`);
  pipeline.timer.wrap(bus, 'publishSerialized', (args) => `bus.publishSerialized ${String(args[0])}`);
  for (const method of ['render', 'apply']) pipeline.timer.wrap(Destination.prototype, method, `destination.${method}`);
  // Raw observations of the lag histogram, while the lag phase records them.
  const observe = metrics.lag.observe.bind(metrics.lag) as (labels: Record<string, string>, value: number) => void;
  metrics.lag.observe = ((labels: Record<string, string>, value: number) => {
    if (pipeline.lagValues && labels.plan === plan) pipeline.lagValues.push(value * 1000);
    observe(labels, value);
  }) as typeof metrics.lag.observe;
  const observeCommit = metrics.commitDuration.observe.bind(metrics.commitDuration) as (labels: Record<string, string>, value: number) => void;
  metrics.commitDuration.observe = ((labels: Record<string, string>, value: number) => {
    if (labels.plan === plan) pipeline.commitDurations.push(value * 1000);
    observeCommit(labels, value);
  }) as typeof metrics.commitDuration.observe;
  return pipeline;
}

/** Deletes the plan's durable consumers and purges its subjects from the streams. */
async function forgetJetStream(bus: Bus, plan: string): Promise<void> {
  for (const [stream, durable] of [['events', 'processor'], ['objects', 'mirror'], ['commits', 'synchronizer']] as const) {
    await bus.jsm.consumers.delete(streams[stream].name, durableName(durable, plan)).catch(() => undefined);
    await bus.jsm.streams.purge(streams[stream].name, { filter: subjectFor(stream, plan) }).catch(() => undefined);
  }
}

async function initialSync(pipeline: Pipeline, tracker: DestinationTracker, plan: string, rss: RssSampler, profile: CpuProfile, signal: AbortSignal): Promise<InitialResult> {
  const timeline: Progress[] = [];
  await profile.start();
  rss.mark('lifeboat-initial');
  const meter = new PhaseMeter(sandboxPids);
  const started = performance.now();
  await pipeline.runtime.start();
  let readyAt: number | undefined;
  let lastProgress = 0;
  const deadline = started + initialSyncDeadlineMs;
  let timedOut = false;
  while (!tracker.complete) {
    signal.throwIfAborted();
    const now = performance.now();
    if (readyAt === undefined && pipeline.runtime.ready()) readyAt = now;
    if (now > deadline) {
      // A missed target, not a failed run: report what arrived, mark it FAIL, and skip the lag phase.
      log(`lifeboat: initial sync not done after ${initialSyncDeadlineMs / 1000}s: ${tracker.objects}/${tracker.expectedObjects} objects in the destination`);
      timedOut = true;
      break;
    }
    if (now - lastProgress >= 1000) {
      lastProgress = now;
      const progress = await progressOf(pipeline.metrics, plan, now - started, tracker.objects);
      timeline.push(progress);
      if (timeline.length % 3 === 1) log(`lifeboat: ${progress.events} source events, ${progress.processed} processed, ${progress.commits} commits, ${progress.applied} applied, ${progress.inDestination}/${tracker.expectedObjects} objects in the destination, rss ${progress.rssMiB} MiB`);
    }
    await sleep(50);
  }
  const finished = (timedOut ? undefined : tracker.completedAt) ?? performance.now();
  const seconds = (finished - started) / 1000;
  const load = meter.stop();
  await profile.stop();
  const peakRssMiB = mib(rss.peaks['lifeboat-initial'] ?? rss.sample());
  timeline.push(await progressOf(pipeline.metrics, plan, finished - started, tracker.objects));
  if (!timedOut) log(`lifeboat: every object in the destination after ${seconds.toFixed(1)}s (${(tracker.objects / seconds).toFixed(1)}/s)`);
  // Ready: the listener finished its list and the synchronizer applied the mirror head at least once.
  const readyDeadline = performance.now() + (timedOut ? 0 : 60_000);
  while (!pipeline.runtime.ready() && performance.now() < readyDeadline) await sleep(50);
  if (readyAt === undefined && pipeline.runtime.ready()) readyAt = performance.now();
  return {
    complete: !timedOut, expectedObjects: tracker.expectedObjects,
    objects: tracker.objects, namespaces: tracker.seen.get('Namespace')?.size ?? 0, seconds, objectsPerSecond: tracker.objects / seconds,
    readySeconds: readyAt === undefined ? undefined : (readyAt - started) / 1000, load, peakRssMiB,
    commits: await total(pipeline.metrics.commits, plan), verifiedCounts: {}, diagnostics: await pipelineDiagnostics(pipeline, plan), timeline,
  };
}

/** Counts, by list, the plan's objects of the run in the destination. */
async function verifyCounts(destination: KubeClient, plan: string, workload: Workload): Promise<Record<string, number>> {
  const namespaces = new Set(workload.namespaces);
  const counts: Record<string, number> = {};
  for (const spec of kinds) {
    counts[spec.kind] = (await listAll(destination, spec.collection, { labelSelector: `${planLabel}=${plan}` })).items.filter((item) => namespaces.has(item.metadata.namespace ?? '')).length;
  }
  counts.Namespace = (await listAll(destination, '/api/v1/namespaces', { labelSelector: `${planLabel}=${plan}` })).items.filter((item) => namespaces.has(item.metadata.name ?? '')).length;
  return counts;
}

/** The last change number written by steadyLag, in any call. */
let lagSequence = 0;

async function steadyLag(options: Options, pipeline: Pipeline, tracker: DestinationTracker, source: KubeClient, workload: Workload, plan: string, rss: RssSampler, signal: AbortSignal): Promise<LagResult> {
  const configMaps = workload.objects.filter((object) => object.kind === 'ConfigMap').map((object) => ({ key: keyOf(object), path: `/api/v1/namespaces/${object.metadata.namespace}/configmaps/${object.metadata.name}` }));
  if (configMaps.length === 0) throw new Error('the lag phase needs ConfigMaps: use more --objects');
  const changes = Math.max(1, Math.round(options.rate * options.duration));
  const tracked = new ChangeTracker();
  await tracked.follow(pipeline.bus, plan);
  tracker.onConfigMap = (type, object, at) => {
    const value = Number((object as { data?: Record<string, string> }).data?.['bench-counter']);
    if (type !== 'DELETED' && Number.isFinite(value)) tracked.applied(keyOf(object), value, at);
  };
  const sourceWatch = new CollectionWatch(source, '/api/v1/configmaps', { labelSelector: `${runLabel}=${workload.run}` }, (type, object, at) => {
    const value = Number((object as { data?: Record<string, string> }).data?.['bench-counter']);
    if (type !== 'DELETED' && Number.isFinite(value)) tracked.inSource(keyOf(object), value, at);
  });
  await sourceWatch.start();
  const profile = new CpuProfile(options.cpuProfile, `${workload.run}-lag`);
  try {
    pipeline.lagValues = [];
    pipeline.commitDurations = [];
    pipeline.passes = [];
    pipeline.timer.reset();
    const commitsBefore = await total(pipeline.metrics.commits, plan);
    log(`lag: ${changes} ConfigMap changes at ${options.rate}/s over ${configMaps.length} ConfigMaps`);
    rss.mark('lifeboat-lag');
    await profile.start();
    const meter = new PhaseMeter(sandboxPids);
    let sent = 0;
    let sendErrors = 0;
    let lastSend = 0;
    const started = performance.now();
    let lastProgress = started;
    await paced(changes, options.rate, 64, signal, (index) => {
      const target = configMaps[index % configMaps.length]!;
      // Numbered across calls: a later step (the rate search) never writes the value a ConfigMap already has.
      const seq = ++lagSequence;
      const sentAt = performance.now();
      lastSend = sentAt;
      const change = tracked.sent(target.key, seq, sentAt);
      if (sentAt - lastProgress >= 5000) {
        lastProgress = sentAt;
        log(`lag: ${index + 1}/${changes} changes sent, ${tracked.seen} seen in the destination, ${tracked.outstanding} outstanding`);
      }
      return source.request('PATCH', target.path, { data: { 'bench-counter': String(seq) } }, { contentType: 'application/merge-patch+json' })
        .then(() => {
          sent++;
          change.patchedAt = performance.now();
        }, (error: Error) => {
          sendErrors++;
          if (sendErrors <= 5) log(`lag: PATCH ${target.key}: ${error.message}`);
          tracked.failed(target.key, change);
        });
    }, started);
    signal.throwIfAborted();
    const sendSeconds = (lastSend - started) / 1000 + 1 / options.rate;
    const drainDeadline = performance.now() + lagDrainDeadlineMs;
    while (tracked.outstanding > 0 && performance.now() < drainDeadline) {
      signal.throwIfAborted();
      await sleep(50);
    }
    const load = meter.stop();
    await profile.stop();
    const peakRssMiB = mib(rss.peaks['lifeboat-lag'] ?? rss.sample());
    const diagnostics = await pipelineDiagnostics(pipeline, plan);
    const metricValues = pipeline.lagValues;
    pipeline.lagValues = undefined;
    const endToEnd = tracked.endToEnd();
    const result: LagResult = {
      requestedRate: options.rate, requestedSeconds: options.duration, changes, sent, sendErrors, achievedRate: sent / sendSeconds, sendSeconds, unseen: tracked.outstanding,
      endToEndMs: distribution(endToEnd), metricMs: distribution(metricValues), stages: tracked.breakdown(),
      load, peakRssMiB, commits: (await total(pipeline.metrics.commits, plan)) - commitsBefore, diagnostics,
    };
    log(`lag: ${sent} changes at ${result.achievedRate.toFixed(1)}/s; end to end p50 ${result.endToEndMs.p50?.toFixed(0)} ms, p99 ${result.endToEndMs.p99?.toFixed(0)} ms; ${result.unseen} never seen`);
    return result;
  } finally {
    tracker.onConfigMap = undefined;
    await tracked.stop();
    if (options.trace) {
      fs.mkdirSync(path.dirname(path.resolve(options.trace)), { recursive: true });
      fs.writeFileSync(options.trace, tracked.records().map((record) => JSON.stringify(record)).join('\n') + '\n');
    }
    await sourceWatch.stop();
    await profile.stop();
  }
}

async function main(options: Options, signal: AbortSignal): Promise<number> {
  const startedAt = new Date();
  const rss = new RssSampler();
  const cleanup = new Cleanup();
  const errors: string[] = [];
  const run = `bench-${randomBytes(3).toString('hex')}`;
  const plan = run;
  const results: Results = {};
  let velero: { pipeline: Pipeline; plan: string } | undefined;
  let kubernetesVersion: string | undefined;
  const workload = makeWorkload(run, options.objects, options.namespaces, options.replicas);
  log(`run ${run}: ${options.objects} objects (${Object.entries(workload.counts).map(([kind, count]) => `${count} ${kind}`).join(', ')}) in ${options.namespaces} namespaces`);
  try {
    const info = await sandboxUp(defaultSandboxDir(), (line) => log(`sandbox: ${line}`));
    sandboxPids = readSandboxPids();
    const source = await client(info, 'source', options.createConcurrency + 8);
    const destination = await client(info, 'destination', 32);
    cleanup.add('close clients', async () => {
      source.close();
      destination.close();
    });
    kubernetesVersion = (await source.request<{ gitVersion: string }>('GET', '/version')).gitVersion;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${run}-`));
    cleanup.add(`remove ${dir}`, async () => {
      if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    });
    cleanup.add('delete the bench namespaces', async () => {
      if (options.keep) return log(`kept namespaces ${run}-* in both clusters and ${dir}`);
      log('cleanup: deleting the bench namespaces in both clusters');
      const destinationNamespaces = [...workload.namespaces, ...workload.namespaces.map((namespace) => `${namespace}-ceiling`)];
      const [left, leftDestination] = await Promise.all([
        deleteNamespaces(source, workload.namespaces, 180_000), deleteNamespaces(destination, destinationNamespaces, 180_000),
      ]);
      if (left || leftDestination) log(`cleanup: ${left + leftDestination} namespaces still terminating; the clusters finish deleting them`);
    });

    if (options.only !== 'recovery' && options.only !== 'cli' && options.only !== 'rss' && options.only !== 'scale') {
      // The source objects, created before anything is timed.
      results.sourceCreate = await createSourceWorkload(source, workload, options, 'source', signal);

      const plansDir = path.join(dir, 'plans');
      writePlans(plansDir, info, plan, run, options.concurrency, options.commitInterval);
      const compiled = await compiledPlan(plansDir, plan);

      // Rounds: in each, for each placement, the ceiling and then lifeboat, each into a destination emptied of the
      // previous round's objects (deleted untimed, and waited for). Single-phase runs (lag, velero) take one round
      // of lifeboat alone.
      const withCeiling = options.only !== 'lag' && options.only !== 'velero';
      const rounds = withCeiling ? options.rounds : 1;
      let placements = withCeiling ? options.placements : [options.placements.at(-1)!];
      const unavailable = placements.includes('pinned') ? await pinningUnavailable() : undefined;
      if (unavailable) {
        log(`placement: not pinning (${unavailable}); every round unpinned`);
        placements = ['unpinned'];
      }
      let pipeline: Pipeline | undefined;
      let tracker: DestinationTracker | undefined;
      let livePlan = plan;
      results.rounds = [];
      for (let round = 1; round <= rounds; round++) {
        for (const placement of placements) {
          const last = round === rounds && placement === placements.at(-1);
          await place(placement, sandboxPids);
          log(`round ${round}/${rounds}, ${placement}`);
          let ceilingResult: CeilingResult | undefined;
          if (withCeiling) {
            ceilingResult = await ceiling(info, options, workload, compiled, destination, rss, signal);
            await emptyDestination(destination, workload.namespaces.map((namespace) => `${namespace}-ceiling`));
          }
          livePlan = `${plan}-${round}${placement === 'pinned' ? 'p' : 'u'}`;
          const roundDir = path.join(dir, livePlan);
          writePlans(path.join(roundDir, 'plans'), info, livePlan, run, options.concurrency, options.commitInterval);
          pipeline = await startPipeline(info, options, livePlan, roundDir, cleanup);
          tracker = new DestinationTracker(workload);
          await tracker.start(destination, livePlan, new Set(workload.namespaces));
          const roundTracker = tracker;
          const roundPipeline = pipeline;
          cleanup.add('stop the destination watches', () => roundTracker.stop());
          cleanup.add('stop lifeboat', () => roundPipeline.runtime.stop());
          log(`lifeboat: starting the pipeline (plan ${livePlan}, sync.concurrency ${options.concurrency}, commitInterval ${options.commitInterval}, maxBatch 1000)`);
          const initial = await controllersPaused(options, () => initialSync(roundPipeline, roundTracker, livePlan, rss, new CpuProfile(options.cpuProfile, `${livePlan}-initial`), signal));
          // The phase's own meter counts every sandbox process: NATS and Redis are lifeboat's engine.
          initial.engineCpuSeconds = ((initial.load.coresByProcess['nats-server'] ?? 0) + (initial.load.coresByProcess.redis ?? 0)) * initial.seconds;
          initial.verifiedCounts = await verifyCounts(destination, livePlan, workload);
          const short = Object.entries(initial.verifiedCounts).filter(([kind, count]) => count !== (kind === 'Namespace' ? workload.namespaces.length : workload.counts[kind]));
          if (initial.complete && short.length) throw new Error(`destination counts differ from the source: ${short.map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
          results.rounds.push({ round, placement, ceiling: ceilingResult, initial, ratio: ceilingResult ? initial.seconds / ceilingResult.seconds : undefined });
          log(`round ${round}/${rounds}, ${placement}: ${ceilingResult ? `ceiling ${ceilingResult.seconds.toFixed(1)} s, ` : ''}lifeboat ${initial.seconds.toFixed(1)} s${ceilingResult ? `, ratio ${(initial.seconds / ceilingResult.seconds).toFixed(2)}` : ''}`);
          if (!initial.complete) break;
          if (!last) {
            await roundTracker.stop();
            await roundPipeline.runtime.stop();
            await emptyDestination(destination, workload.namespaces);
          }
        }
        if (results.rounds.at(-1)?.initial.complete === false) break;
      }
      const summary = summarize(results.rounds, options.objects);
      results.placements = summary;
      // The table's rows and the targets read the last placement (pinned when it ran): its median round.
      const main = summary.at(-1);
      results.initial = main?.medianRound.initial;
      results.ceiling = main?.medianRound.ceiling;

      const lastInitial = results.rounds.at(-1)?.initial;
      if ((options.only === undefined || options.only === 'lag') && !lastInitial?.complete) log('lag: skipped, the initial sync did not finish');
      else if ((options.only === undefined || options.only === 'lag') && pipeline && tracker) {
        // Steady state, as for the source: the destination's controllers first create a ReplicaSet for every
        // replicated Deployment (scaled to zero); measuring lag while they churn measures them, not lifeboat.
        await settle('destination after the initial sync', destination, workload.run, new Set(workload.namespaces), { replicaSets: workload.counts.Deployment ?? 0, pods: 0 }, signal);
        await sleep(2000); // let the last commits of the initial sync drain
        results.lag = await steadyLag(options, pipeline, tracker, source, workload, livePlan, rss, signal);
        if (options.rateSearch && options.only === undefined) {
          const [livePipeline, liveTracker] = [pipeline, tracker];
          const lifeboatRates = await searchRate(async (rate) => {
            const step = await steadyLag({ ...options, rate, duration: rateLimits.stepSeconds, trace: undefined }, livePipeline, liveTracker, source, workload, livePlan, rss, signal);
            return { rate, sent: step.sent, achievedRate: step.achievedRate, p99Ms: step.endToEndMs.p99, unseen: step.unseen };
          }, log, 'lifeboat');
          const writer = await client(info, 'destination-writer', 72);
          try {
            results.rates = { lifeboat: lifeboatRates, direct: await directRateSearch(writer, destination, run, log, signal) };
          } finally {
            writer.close();
          }
        }
      }
      if ((options.only === undefined || options.only === 'velero') && pipeline && lastInitial?.complete) {
        velero = { pipeline, plan: livePlan };
      }
    }
    if (options.only === undefined || options.only === 'recovery') {
      const writer = await client(info, 'destination-writer', options.concurrency + 8);
      try {
        results.recovery = await recoveryBench(destination, writer, run, options.recoveryDeployments, options.concurrency, log, signal);
      } finally {
        writer.close();
      }
    }
    if (options.only === undefined || options.only === 'cli') {
      rss.mark('cli');
      results.cli = await cliBench({ commits: options.cliCommits, paths: 300, plans: 50, repetitions: 5, redisUrl: info.redisUrl, kubeconfig: info.kubeconfig, keep: options.keep }, log);
    }
    if (options.rssObjects > 0 && (options.only === undefined || options.only === 'rss')) {
      rss.mark('rss');
      await place('unpinned', sandboxPids);
      results.memory = await rssBench(info, options.rssObjects, Math.min(100, Math.max(1, Math.round(options.rssObjects / 100))), 10, (line) => log(`memory: ${line}`));
    }
    if (options.velero && (options.only === undefined || options.only === 'velero')) {
      if (!velero) log('velero: skipped, lifeboat\'s initial sync did not finish');
      else {
        rss.mark('velero');
        await place('unpinned', sandboxPids);
        results.velero = await veleroPhase(info, options, workload, source, destination, velero, signal);
      }
    }
    if (options.scaleObjects > 0 && (options.only === undefined || options.only === 'scale')) {
      rss.mark('scale');
      // The judged placement (pinned when it can be), as the main rounds' medians are judged.
      // The placement the main rounds were judged in; with --only scale, the last asked for, if it can be had.
      let placement = results.rounds?.at(-1)?.placement ?? options.placements.at(-1)!;
      const unavailable = placement === 'pinned' ? await pinningUnavailable() : undefined;
      if (unavailable) {
        log(`scale: not pinning (${unavailable})`);
        placement = 'unpinned';
      }
      const mainSeconds = results.placements?.find((figures) => figures.placement === placement)?.lifeboatSeconds.median;
      results.scale = await scalePhase(info, options, run, placement, mainSeconds, source, destination, rss, cleanup, signal);
    }
    rss.mark('cleanup');
  } catch (error) {
    const message = signal.aborted ? 'interrupted' : (error as Error).stack ?? String(error);
    errors.push(message);
    log(`error: ${message}`);
  }
  const rows = tableRows(options, results);
  const targetTable = targetRows(targetInputs(options, results));
  const resultsDir = path.join(repoRoot, 'bench', 'results');
  const file = path.join(resultsDir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const writeReport = () => {
    const written = {
      timestamp: startedAt.toISOString(), run, options, machine: machineInfo(), kubernetesVersion,
      workload: { counts: workload.counts, namespaces: workload.namespaces.length, replicas: workload.replicas },
      targets, results, rows, targetTable,
      rss: { peakMiB: mib(rss.peak), phasesMiB: Object.fromEntries(Object.entries(rss.peaks).map(([phase, bytes]) => [phase, Math.round(mib(bytes))])), maxRssKiB: process.resourceUsage().maxRSS },
      errors,
    };
    const json = `${JSON.stringify(written, null, 2)}\n`;
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(file, json);
    if (options.json) {
      fs.mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
      fs.writeFileSync(options.json, json);
    }
    return written;
  };
  // The results are on disk before anything is cleaned up (a cleanup that fails or hangs loses no figure), and
  // written again after, with the cleanup's errors.
  writeReport();
  errors.push(...(await cleanup.run()).map((failure) => `cleanup: ${failure}`));
  rss.stop();
  const report = writeReport();
  console.log(`\nLifeboat benchmark ${run} — ${report.machine.cpus} CPUs (${report.machine.cpuModel}), Node ${process.version}, Kubernetes ${kubernetesVersion ?? '?'}`);
  console.log(`${options.objects} objects in ${options.namespaces} namespaces; sync.concurrency ${options.concurrency}; lag phase ${options.rate}/s for ${options.duration}s. Peak RSS is the bench process including lifeboat.\n`);
  console.log(renderTable(rows));
  if (results.cli) console.log(`CLI (child processes, ${results.cli.repetitions} runs each interleaved with its baseline; mirror of ${results.cli.commits} commits over ${results.cli.paths} ConfigMaps, ${results.cli.plans} plans):\n${renderCli(results.cli)}`);
  console.log(`Targets (issue 19):\n${renderTargets(targetTable)}`);
  if (results.rounds?.length) console.log(`Initial-sync rounds (in the order they ran):\n${renderRounds(results.rounds, options.objects)}`);
  if (results.velero) console.log(`Velero side by side (${options.objects} objects):\n${renderVelero(results)}`);
  if (results.lag) {
    const lag = results.lag;
    const internals = lag.diagnostics;
    const ms = (d: Distribution) => `${d.p50 === undefined ? '-' : d.p50.toFixed(0)}/${d.p99 === undefined ? '-' : d.p99.toFixed(0)}`;
    console.log(`lag: ${lag.sent}/${lag.changes} changes sent (${lag.sendErrors} errors), ${lag.unseen} never seen, ${lag.commits} mirror commits.`);
    console.log(`lag by stage, p50/p99 ms: source write ${ms(lag.stages.sourceWriteMs)}; sent→source watch ${ms(lag.stages.sourceWatchMs)}; listener ${ms(lag.stages.listenerMs)}; processor ${ms(lag.stages.processorMs)}; mirror (batch+commit) ${ms(lag.stages.mirrorMs)}; commit→destination ${ms(lag.stages.synchronizerMs)}`);
    const load = lag.load;
    console.log(`lag phase load: machine CPU ${load.machineBusy === undefined ? '?' : `${(load.machineBusy * 100).toFixed(0)} %`} busy; event-loop delay p50/p99/max ${load.eventLoopDelayMs.p50}/${load.eventLoopDelayMs.p99}/${load.eventLoopDelayMs.max} ms`);
    console.log(`lag phase internals, p50/p99 ms: mirror commit ${ms(internals.mirrorCommitMs)} (${internals.mirrorCommitMs.count} commits); synchronizer pass ${ms(internals.synchronizerPassMs)} (${internals.synchronizerPassMs.count} passes, objects per pass p50/p99 ${ms(internals.objectsPerPass)})`);
    console.log(`JetStream consumers after the lag phase: ${Object.entries(internals.consumers).map(([name, state]) => `${name} ${state.redelivered} redelivered, ${state.ackPending} awaiting ack, ${state.pending} pending`).join('; ')}`);
    console.log(`lag phase calls, count p50/p99 ms: ${Object.entries(internals.methods).filter(([, timing]) => timing.count > 0).map(([method, timing]) => `${method} ${timing.count}× ${ms(timing)}`).join('; ')}`);
  }
  const loads = [['ceiling', results.ceiling?.load], ['lifeboat initial sync', results.initial?.load], ['lag', results.lag?.load]] as const;
  for (const [phase, load] of loads) {
    if (!load) continue;
    const known = Object.values(load.coresByProcess).reduce((a, b) => a + b, 0);
    const other = load.machineBusy === undefined ? undefined : load.machineBusy * report.machine.cpus - known;
    const top = [...Object.entries(load.coresByProcess), ...(other === undefined ? [] : [['anything else', other] as [string, number]])]
      .filter(([, cores]) => cores >= 0.05).sort((a, b) => b[1] - a[1]).map(([name, cores]) => `${name} ${cores.toFixed(2)}`).join(', ');
    console.log(`cores used during ${phase} (machine ${load.machineBusy === undefined ? '?' : `${(load.machineBusy * 100).toFixed(0)} % busy`}): ${top}`);
  }
  const markdownFile = file.replace(/\.json$/, '.md');
  fs.writeFileSync(markdownFile, markdownReport(report.machine, kubernetesVersion, startedAt, targetTable, results, options));
  console.log(`results: ${path.relative(process.cwd(), file)}${options.json ? ` and ${options.json}` : ''}; the tables as Markdown (for the README): ${path.relative(process.cwd(), markdownFile)}`);
  if (errors.length) console.log(`\n${errors.length} error(s):\n${errors.map((error) => `  ${error.split('\n')[0]}`).join('\n')}`);
  return errors.length ? 1 : 0;
}

function renderRounds(rounds: readonly Round[], objects: number): string {
  const per1000 = (seconds: number | undefined) => (seconds === undefined ? '-' : ((seconds / objects) * 1000).toFixed(2));
  return renderColumns(['ROUND', 'PLACEMENT', 'CEILING S', 'LIFEBOAT S', 'RATIO', 'CPU S/1000 LIFEBOAT', 'NATS+REDIS', 'CEILING CLIENT'], rounds.map((round) => [
    String(round.round), round.placement, round.ceiling?.seconds.toFixed(1) ?? '-', `${round.initial.seconds.toFixed(1)}${round.initial.complete ? '' : ' (timed out)'}`, round.ratio?.toFixed(2) ?? '-',
    per1000(round.initial.load.processCpuSeconds), per1000(round.initial.engineCpuSeconds), per1000(round.ceiling?.load.processCpuSeconds),
  ]));
}

/** RPO and RTO of Velero and Lifeboat from this run, one row each. */
function veleroRows(results: Results): string[][] {
  const phase = results.velero;
  const velero = phase?.velero;
  const lagP99 = results.lag?.endToEndMs.p99;
  const initial = results.rounds?.at(-1)?.initial;
  const rows: string[][] = [];
  const veleroCell = (text: string) => (velero ? text : `not run${phase?.notRun ? ` (${phase.notRun})` : ''}`);
  rows.push(['RPO (data lost in a disaster)', veleroCell(`the schedule interval (a backup of these objects takes ${velero?.backupSeconds.toFixed(1)} s, so at least that)`),
    lagP99 === undefined ? 'lag phase not run' : `replication lag p99 ${lagP99.toFixed(0)} ms at ${results.lag!.requestedRate}/s`]);
  rows.push(['RTO (stand-by serving)', veleroCell(`restore ${velero?.restoreSeconds.toFixed(1)} s (${velero?.restoredObjects} objects, ${velero?.restorePhase})`),
    phase?.recover ? `lifeboat recover --at ${phase.recover.seconds.toFixed(1)} s (${phase.recover.awake} of ${phase.recover.deployments} Deployments awake, ${phase.recover.phase})` : 'not run']);
  rows.push(['copy source → stand-by', veleroCell(`backup ${velero?.backupSeconds.toFixed(1)} s + restore ${velero?.restoreSeconds.toFixed(1)} s = ${((velero?.backupSeconds ?? 0) + (velero?.restoreSeconds ?? 0)).toFixed(1)} s`),
    initial ? `initial sync ${initial.seconds.toFixed(1)} s, then continuous` : 'not run']);
  rows.push(['CPU seconds', veleroCell(`velero server: backup ${velero?.backupServerCpuSeconds ?? '?'} s, restore ${velero?.restoreServerCpuSeconds ?? '?'} s`),
    initial ? `lifeboat initial sync ${initial.load.processCpuSeconds.toFixed(1)} s (+ NATS and Redis ${(initial.engineCpuSeconds ?? 0).toFixed(2)} s)` : 'not run']);
  return rows;
}

function renderVelero(results: Results): string {
  return renderColumns(['', 'VELERO v1.18.3 (backup + restore)', 'LIFEBOAT'], veleroRows(results));
}

/** The targets, the rounds and the Velero comparison as Markdown tables, with the machine, date and command. */
function markdownReport(machine: ReturnType<typeof machineInfo>, kubernetesVersion: string | undefined, startedAt: Date, targetTable: ReturnType<typeof targetRows>, results: Results, options: Options): string {
  const table = (headers: string[], rows: string[][]) => [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const parts = [
    `\`${command}\` on ${startedAt.toISOString().slice(0, 10)}: ${machine.cpus} CPUs (${machine.cpuModel}), ${(machine.totalMemoryMiB / 1024).toFixed(0)} GiB, Node ${machine.node}, Kubernetes ${kubernetesVersion ?? '?'}; ${options.objects.toLocaleString('en')} objects in ${options.namespaces} namespaces.`,
    table(['target', 'limit', 'measured', 'result'], targetTable.map((row) => [row.target, row.limit, row.measured, row.result])),
  ];
  if (results.rounds?.length) {
    const per1000 = (seconds: number | undefined) => (seconds === undefined ? '-' : ((seconds / options.objects) * 1000).toFixed(2));
    parts.push(table(['round', 'placement', 'ceiling s', 'lifeboat s', 'ratio', 'CPU s per 1,000: lifeboat', 'NATS + Redis', 'ceiling client'], results.rounds.map((round) => [
      String(round.round), round.placement, round.ceiling?.seconds.toFixed(1) ?? '-', round.initial.seconds.toFixed(1), round.ratio?.toFixed(2) ?? '-',
      per1000(round.initial.load.processCpuSeconds), per1000(round.initial.engineCpuSeconds), per1000(round.ceiling?.load.processCpuSeconds),
    ])));
  }
  if (results.velero) parts.push(table(['', 'Velero v1.18.3', 'Lifeboat'], veleroRows(results)));
  return `${parts.join('\n\n')}\n`;
}

/** What the targets table reads from this run's results. */
function targetInputs(options: Options, results: Results): TargetInputs {
  const { ceiling, initial, lag, recovery, cli } = results;
  return {
    objects: options.objects, rate: options.rate, recoveryDeployments: options.recoveryDeployments,
    phases: {
      initial: options.only === undefined || options.only === 'initial', lag: options.only === undefined || options.only === 'lag',
      recovery: options.only === undefined || options.only === 'recovery', cli: options.only === undefined || options.only === 'cli',
      rates: options.rateSearch && options.only === undefined,
      memory: options.rssObjects > 0 && (options.only === undefined || options.only === 'rss'),
      scale: options.scaleObjects > 0 && (options.only === undefined || options.only === 'scale'),
    },
    initial: initial && { seconds: initial.seconds, complete: initial.complete, processCpuSeconds: initial.load.processCpuSeconds },
    placements: results.placements,
    ceiling: ceiling && { seconds: ceiling.seconds, processCpuSeconds: ceiling.load.processCpuSeconds },
    rates: results.rates && { lifeboat: results.rates.lifeboat.held, direct: results.rates.direct.held, maxRate: rateLimits.max },
    memory: results.memory && { objects: results.memory.objects, peakMiB: results.memory.peakMiB, heapUsedMiB: results.memory.heapUsedMiB },
    scale: results.scale && {
      objects: results.scale.objects, ceilingSeconds: results.scale.ceiling.seconds, lifeboatSeconds: results.scale.lifeboat.seconds, complete: results.scale.lifeboat.complete,
      peakMiB: results.scale.lifeboat.peakMiB, placement: results.scale.placement, mainSeconds: results.scale.mainSeconds, mainObjects: results.scale.mainObjects,
    },
    lagP99Ms: lag?.endToEndMs.p99, recoveryRatio: recovery?.ratio, recoveryFailed: recovery?.failed, cli,
  };
}

function tableRows(options: Options, results: Results): Row[] {
  const rows: Row[] = [];
  const { ceiling, initial, lag, recovery } = results;
  for (const figures of results.placements ?? []) {
    if (!figures.ceilingSeconds || !figures.ratio) continue;
    const mid = figures.medianRound;
    rows.push({ scenario: `initial sync, ${figures.placement}, ${figures.rounds} rounds: ceiling`, objects: mid.ceiling!.objects, seconds: figures.ceilingSeconds.median, perSecond: mid.ceiling!.objects / figures.ceilingSeconds.median, ratio: 1,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: mid.ceiling!.peakRssMiB, target: '-', result: '-' });
    rows.push({ scenario: `initial sync, ${figures.placement}, ${figures.rounds} rounds: lifeboat`, objects: mid.initial.objects, seconds: figures.lifeboatSeconds.median, perSecond: mid.initial.objects / figures.lifeboatSeconds.median, ratio: figures.ratio.median,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: mid.initial.peakRssMiB, target: `median ratio ≤ ${targets.ratio}`, result: figures.ratio.median <= targets.ratio ? 'PASS' : 'FAIL' });
  }
  if (ceiling && !results.placements?.some((figures) => figures.ratio)) {
    rows.push({ scenario: 'initial sync: ceiling (direct SSA)', objects: ceiling.objects, seconds: ceiling.seconds, perSecond: ceiling.objectsPerSecond, ratio: 1,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: ceiling.peakRssMiB, target: '-', result: '-' });
  }
  if (initial && !results.placements?.some((figures) => figures.ratio)) {
    const ratio = ceiling ? initial.seconds / ceiling.seconds : undefined;
    rows.push({ scenario: `initial sync: lifeboat${initial.complete ? '' : ' (timed out)'}`, objects: initial.objects, seconds: initial.seconds, perSecond: initial.objectsPerSecond, ratio,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: initial.peakRssMiB, target: `ratio ≤ ${targets.ratio}`,
      result: !initial.complete ? 'FAIL' : ratio === undefined ? '-' : ratio <= targets.ratio ? 'PASS' : 'FAIL' });
  }
  if (lag) {
    const rateOk = lag.achievedRate >= targets.rateShare * options.rate;
    const p99 = lag.endToEndMs.p99;
    rows.push({ scenario: `steady lag @${options.rate}/s: end to end`, objects: lag.sent, seconds: lag.sendSeconds, perSecond: lag.achievedRate, ratio: undefined,
      lagP50Ms: lag.endToEndMs.p50, lagP99Ms: p99, peakRssMiB: lag.peakRssMiB, target: `p99 ≤ ${targets.lagP99Ms} ms${rateOk ? '' : ', rate'}`,
      result: p99 !== undefined && p99 <= targets.lagP99Ms && rateOk ? 'PASS' : 'FAIL' });
    rows.push({ scenario: `steady lag @${options.rate}/s: lag metric`, objects: lag.metricMs.count, seconds: undefined, perSecond: undefined, ratio: undefined,
      lagP50Ms: lag.metricMs.p50, lagP99Ms: lag.metricMs.p99, peakRssMiB: undefined, target: '(event → apply)', result: '-' });
  }
  if (recovery) {
    rows.push({ scenario: 'recovery: ceiling (direct patches)', objects: recovery.deployments, seconds: recovery.ceilingSeconds, perSecond: recovery.deployments / recovery.ceilingSeconds, ratio: 1,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: undefined, target: '-', result: '-' });
    rows.push({ scenario: 'recovery: lifeboat recover', objects: recovery.deployments, seconds: recovery.seconds, perSecond: recovery.deployments / recovery.seconds, ratio: recovery.ratio,
      lagP50Ms: undefined, lagP99Ms: undefined, peakRssMiB: undefined, target: `ratio ≤ ${targets.recoveryRatio}`,
      result: recovery.failed === 0 && recovery.ratio <= targets.recoveryRatio ? 'PASS' : 'FAIL' });
  }
  return rows;
}

let options: Options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(2);
}
const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  if (++interrupts > 1) process.exit(130);
  log('interrupted: cleaning up (Ctrl-C again to leave everything as it is)');
  controller.abort(new Error('interrupted'));
});
const code = await main(options, controller.signal);
// Lifeboat's timers and client sockets are all closed by now; exit explicitly anyway, so a straggler cannot keep
// a finished benchmark alive.
process.exit(code);
