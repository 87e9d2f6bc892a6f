// The CLI phase of `npm run bench` (`--only cli`): the commands a person types, run as they run them (a child
// process of bin/lifeboat.js), each timed against a baseline in the same run, interleaved, the median of each kept.
//
//   history --object  `lifeboat history PLAN --object REF -o json` over a mirror of N commits written by the real
//                     MirrorRepository (each touching 1-3 of a few hundred ConfigMaps); warm (index present) and cold
//                     (lifeboat-history.jsonl deleted first: the run rebuilds it). Baseline: `git log main -- PATH`.
//   history latest    `lifeboat history PLAN` (the CLI's default limit, 50). Baseline: `git log -n 50 --name-status`.
//   status            `lifeboat status --plans DIR` with P plans in a plans directory and their status in Redis
//                     (unique plan names, removed after). Baseline: `node -e 0`.
//   --help            `node bin/lifeboat.js --help`, and `lifeboat --help` as the README runs it (found on PATH in
//                     node_modules/.bin, where npm ci links it; started by its `#!/usr/bin/env node`). Baseline: `node -e 0`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { commitMessage, MirrorRepository } from '../src/mirror/repository.ts';
import { historyIndexName } from '../src/mirror/history-index.ts';
import { StateStore } from '../src/state/state.ts';
import { quantile } from './report.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const lifeboatBin = path.join(repoRoot, 'bin', 'lifeboat.js');
const demoRecipient = 'age12ruvwe3f4fdkav59t5ue56p6djfq2rhjssy444v455c3zahgv9nsh5qclp';

export interface CliTiming {
  /** Wall time of each run, ms, in the order they ran. */
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export interface CliMeasurement {
  name: string;
  command: string;
  baselineCommand: string;
  subject: CliTiming;
  baseline: CliTiming;
  /** Median of the subject ÷ median of the baseline. */
  ratio: number;
}

export interface CliResult {
  commits: number;
  paths: number;
  plans: number;
  repetitions: number;
  buildSeconds: number;
  measurements: CliMeasurement[];
}

export interface CliOptions {
  commits: number;
  paths: number;
  plans: number;
  repetitions: number;
  redisUrl: string;
  kubeconfig: string;
  keep: boolean;
}

interface Invocation {
  file: string;
  args: string[];
  cwd: string;
  /** The environment of this command, when not the phase's. */
  env?: NodeJS.ProcessEnv;
  /** Runs before each timed run, untimed (the cold history deletes the index). */
  before?: () => void;
}

function timing(runsMs: number[]): CliTiming {
  return { runsMs, medianMs: quantile(runsMs, 0.5)!, minMs: Math.min(...runsMs), maxMs: Math.max(...runsMs) };
}

/** One timed run; a failing command fails the phase (a fast error is no result). */
function timed(invocation: Invocation, env: NodeJS.ProcessEnv): Promise<number> {
  invocation.before?.();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(invocation.file, invocation.args, { cwd: invocation.cwd, env: invocation.env ?? env, maxBuffer: 64 * 2 ** 20 }, (error, _stdout, stderr) => {
      const ms = performance.now() - started;
      if (error) reject(new Error(`${[invocation.file, ...invocation.args].join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(ms);
    });
  });
}

const shown = (invocation: Invocation) => [path.basename(invocation.file), ...invocation.args].join(' ');

/** Baseline and subject, alternating, `repetitions` times each, after one untimed run of each (caches warmed alike). */
async function measure(name: string, subject: Invocation, baseline: Invocation, repetitions: number, env: NodeJS.ProcessEnv, warmup = true): Promise<CliMeasurement> {
  if (warmup) {
    await timed(baseline, env);
    await timed(subject, env);
  }
  const subjectMs: number[] = [];
  const baselineMs: number[] = [];
  for (let index = 0; index < repetitions; index++) {
    baselineMs.push(await timed(baseline, env));
    subjectMs.push(await timed(subject, env));
  }
  const result = { name, command: shown(subject), baselineCommand: shown(baseline), subject: timing(subjectMs), baseline: timing(baselineMs), ratio: 0 };
  result.ratio = result.subject.medianMs / result.baseline.medianMs;
  return result;
}

const configMapPath = (plan: string, namespace: string, index: number) => `${plan}/namespaces/${namespace}/ConfigMap/cm-${index}.yaml`;

/** A mirror of `commits` commits of plan `plan`, each touching 1-3 of `paths` ConfigMaps, as lifeboat writes them. */
export async function buildMirror(gitdir: string, plan: string, namespace: string, commits: number, paths: number): Promise<void> {
  const mirror = await MirrorRepository.open(gitdir);
  let seed = 1;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31; // reproducible from run to run
  for (let index = 0; index < commits; index++) {
    const touched = new Set<number>();
    const count = 1 + Math.floor(random() * 3);
    while (touched.size < count) touched.add(Math.floor(random() * paths));
    // cm-0 every 20th commit, so the object looked up has a known share of the history (500 of 10,000).
    if (index % 20 === 0) touched.add(0);
    const changes = [...touched].map((path) => ({ path: configMapPath(plan, namespace, path), content: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${path}\n  namespace: ${namespace}\ndata:\n  revision: "${index}"\n` }));
    await mirror.commit(changes, (applied) => commitMessage(`sync(${plan}): ${applied.length} objects`, applied.map((change) => `${change.type} ${change.path}`), { Plan: plan, 'Plan-Revision': `r${index}` }));
  }
}

/** A plans directory with two clusters and `count` plans (the status phase reads it, as `--plans` does). */
function writePlans(dir: string, names: readonly string[], kubeconfig: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const cluster = (name: string, context: string) => ({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: kubeconfig, context } } });
  fs.writeFileSync(path.join(dir, 'clusters.yaml'), [cluster('source', 'source-reader'), cluster('destination', 'destination-writer')].map((document) => stringify(document)).join('---\n'));
  for (const name of names) {
    fs.writeFileSync(path.join(dir, `${name}.yaml`), stringify({
      apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name },
      spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [`${name}-*`] }] }, secrets: { recipients: [demoRecipient] } },
    }));
  }
}

/** A plan's status as a running lifeboat writes it, with a few kinds, errors and a reconcile summary. */
function planStatus(plan: string, index: number): object {
  const head = randomBytes(20).toString('hex');
  return {
    plan, planRevision: randomBytes(20).toString('hex'), mirrorHead: head, appliedHead: index % 5 === 0 ? randomBytes(20).toString('hex') : head,
    objectsByKind: { ConfigMap: 300 + index, Secret: 200, Deployment: 200, Service: 150, ServiceAccount: 150 }, lagSeconds: 0.12 + index / 100,
    mirrorWriter: true, holds: ['listener', 'mirror', 'synchronizer', 'reconciler'], kinds: ['ConfigMap', 'Secret', 'Deployment', 'Service', 'ServiceAccount'],
    initialSync: 'done', lastErrors: index % 7 === 0 ? [{ path: `${plan}/namespaces/a/ConfigMap/x.yaml`, reason: 'conflict', attempts: 3, at: new Date().toISOString() }] : [],
    failing: [], failingObjects: 0, stalls: [], heldDeletes: index % 3, paused: 0, failedOver: undefined,
    reconcile: { at: new Date().toISOString(), sourceChanged: 0, sourceDeleted: 0, drifted: [], missing: 0, orphaned: 0, corrected: 0, drift: 'detect' },
    unreachable: undefined, updatedAt: new Date().toISOString(),
  };
}

export async function cliBench(options: CliOptions, log: (message: string) => void): Promise<CliResult> {
  const run = `benchcli-${randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${run}-`));
  const gitdir = path.join(dir, 'mirror.git');
  const namespace = 'shop';
  const planNames = Array.from({ length: options.plans }, (_, index) => `${run}-${String(index).padStart(2, '0')}`);
  // Commands run where no ./plans exists (the default plans source is then skipped), with the sandbox's Redis.
  const cwd = path.join(dir, 'work');
  fs.mkdirSync(cwd);
  const env: NodeJS.ProcessEnv = { ...process.env, LIFEBOAT_REDIS_URL: options.redisUrl, LIFEBOAT_LOG_LEVEL: 'error' };
  delete env.LIFEBOAT_PLANS;
  delete env.LIFEBOAT_MIRROR;
  const state = await StateStore.connect(options.redisUrl);
  try {
    const started = performance.now();
    await buildMirror(gitdir, run, namespace, options.commits, options.paths);
    const buildSeconds = (performance.now() - started) / 1000;
    log(`cli: mirror of ${options.commits} commits over ${options.paths} ConfigMaps written in ${buildSeconds.toFixed(1)} s`);
    const git = (...args: string[]): Invocation => ({ file: 'git', args: [`--git-dir=${gitdir}`, ...args], cwd });
    const node = (...args: string[]): Invocation => ({ file: process.execPath, args, cwd });
    const lifeboat = (...args: string[]): Invocation => node(lifeboatBin, ...args);
    const measurements: CliMeasurement[] = [];
    const repetitions = options.repetitions;

    const object = `ConfigMap/${namespace}/cm-0`;
    const historyByObject = lifeboat('history', run, '--mirror', gitdir, '--object', object, '-o', 'json');
    const gitByPath = git('log', 'main', '--', configMapPath(run, namespace, 0));
    measurements.push(await measure(`history --object over ${options.commits} commits (index present)`, historyByObject, gitByPath, repetitions, env));
    const indexFile = path.join(gitdir, historyIndexName);
    measurements.push(await measure(`history --object over ${options.commits} commits (cold: index rebuilt)`,
      { ...historyByObject, before: () => fs.rmSync(indexFile, { force: true }) }, gitByPath, repetitions, env, false));
    if (!fs.existsSync(indexFile)) throw new Error(`the cold history runs left no ${historyIndexName} behind`);
    measurements.push(await measure(`history latest 50 of ${options.commits} commits`,
      lifeboat('history', run, '--mirror', gitdir, '-o', 'json'), git('log', '-n', '50', '--name-status', 'main'), repetitions, env));

    const plansDir = path.join(dir, 'plans');
    writePlans(plansDir, planNames, options.kubeconfig);
    for (const [index, name] of planNames.entries()) await state.savePlanStatus(name, planStatus(name, index));
    const idle = node('-e', '0');
    measurements.push(await measure(`status with ${options.plans} plans`, lifeboat('status', '--plans', plansDir), idle, repetitions, env));
    measurements.push(await measure('CLI start: lifeboat --help', lifeboat('--help'), idle, repetitions, env));
    const binDir = path.join(repoRoot, 'node_modules', '.bin');
    if (!fs.existsSync(path.join(binDir, 'lifeboat'))) throw new Error(`no ${path.join(binDir, 'lifeboat')}: npm ci links it (npm's prepare runs hack/link-bin.ts)`);
    const onPath = { ...env, PATH: `${binDir}${path.delimiter}${env.PATH ?? ''}` };
    measurements.push(await measure('CLI start: the README\'s lifeboat --help (on PATH)', { file: 'lifeboat', args: ['--help'], cwd: repoRoot, env: onPath }, idle, repetitions, env));
    for (const measurement of measurements) {
      log(`cli: ${measurement.name}: median ${measurement.subject.medianMs.toFixed(0)} ms (${measurement.subject.minMs.toFixed(0)}-${measurement.subject.maxMs.toFixed(0)}), baseline ${measurement.baseline.medianMs.toFixed(0)} ms, ratio ${measurement.ratio.toFixed(2)}`);
    }
    return { commits: options.commits, paths: options.paths, plans: options.plans, repetitions, buildSeconds, measurements };
  } finally {
    await Promise.all(planNames.map((name) => state.forget(name))).catch((error: unknown) => log(`cli: cleanup of the Redis keys failed: ${(error as Error).message}`));
    await state.close();
    if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}
