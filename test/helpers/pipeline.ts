// A real pipeline for integration tests: a plans directory (clusters with the sandbox's least-privilege contexts,
// one plan), a fresh mirror repository, and a Runtime on the sandbox's NATS and Redis. Every test gets its own plan
// name, namespaces, mirror and keys.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { Bus } from '../../src/bus/bus.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { read } from '../../src/kube/apply.ts';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.ts';
import { MirrorPusher } from '../../src/mirror/pusher.ts';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { readIdentities } from '../../src/runtime/plans.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { StateStore } from '../../src/state/state.ts';
import { stringifyJson } from '../../src/util/json.ts';
import { createLogger, silentLogger } from '../../src/util/log.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { kube, sandbox, uniqueName } from './sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;
export const demoIdentityFile = path.join(repoRoot, 'plans', 'sandbox', 'demo-identity.txt');
export const demoRecipient = 'age12ruvwe3f4fdkav59t5ue56p6djfq2rhjssy444v455c3zahgv9nsh5qclp';

export interface PipelineHandle {
  plan: string;
  dir: string;
  plansDir: string;
  /** The runtime's debug log, when the pipeline was made with `logFile` (or `LIFEBOAT_TEST_LOG` went to stderr). */
  logFile: string | undefined;
  mirror: MirrorRepository;
  runtime: Runtime;
  state: StateStore;
  bus: Bus;
  metrics: Metrics;
  source: KubeClient;
  destination: KubeClient;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** Writes clusters.yaml and the plan (spec given, source/destination filled in) and prepares a runtime. */
export async function pipeline(spec: Record<string, unknown>, options: { plan?: string; dir?: string; mirrorRemote?: string; logFile?: boolean; natsUrl?: string; redisUrl?: string } = {}): Promise<PipelineHandle> {
  const info = await sandbox();
  const plan = options.plan ?? uniqueName('p');
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${plan}-`));
  const plansDir = path.join(dir, 'plans');
  fs.mkdirSync(plansDir, { recursive: true });
  const cluster = (name: string, context: string) => ({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  });
  fs.writeFileSync(path.join(plansDir, 'clusters.yaml'), `${stringify(cluster('source', 'source-reader'))}---\n${stringify(cluster('destination', 'destination-writer'))}`);
  writePlan(plansDir, plan, spec);
  const mirror = await MirrorRepository.open(path.join(dir, 'mirror.git'));
  const state = await StateStore.connect(options.redisUrl ?? info.redisUrl);
  // A helper that fails half-way closes what it opened: an open connection keeps the test file's process, and with it
  // ava, from ever exiting.
  let bus: Bus | undefined;
  let source: KubeClient | undefined;
  let destination: KubeClient;
  try {
    bus = await Bus.connect(options.natsUrl ?? info.natsUrl);
    source = await kube('source');
    destination = await kube('destination');
  } catch (error) {
    source?.close();
    await Promise.allSettled([bus?.close(), state.close()]);
    throw error;
  }
  const metrics = createMetrics();
  const logFile = options.logFile && !process.env.LIFEBOAT_TEST_LOG ? path.join(dir, 'lifeboat.log') : undefined;
  const log = process.env.LIFEBOAT_TEST_LOG ? createLogger({ level: 'debug' })
    : logFile ? createLogger({ level: 'debug', destination: fs.openSync(logFile, 'a') }) : silentLogger;
  const make = () => new Runtime({
    plans: plansDir, mirror, bus, state, metrics, log, identities: readIdentities([demoIdentityFile]), planPollMs: 500,
    pusher: options.mirrorRemote ? new MirrorPusher(mirror, options.mirrorRemote) : undefined,
  });
  const handle: PipelineHandle = {
    plan, dir, plansDir, logFile, mirror, state, bus, metrics, runtime: make(), source, destination,
    async start() {
      await handle.runtime.start();
      await waitFor('the initial sync', () => handle.runtime.ready(), 120_000, 100);
    },
    async stop() {
      await handle.runtime.stop();
      handle.runtime = make();
    },
    async close() {
      await handle.runtime.stop();
      await bus.removePlan(plan);
      await bus.close();
      await state.forget(plan);
      await state.close();
      handle.source.close();
      handle.destination.close();
    },
  };
  return handle;
}

export function writePlan(plansDir: string, plan: string, spec: Record<string, unknown>): void {
  const document = {
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, sync: { commitInterval: '100ms' }, ...spec },
  };
  fs.writeFileSync(path.join(plansDir, `${plan}.yaml`), stringify(document));
}

export async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** GET that answers undefined for 404 (src/kube/apply.ts). */
export function get<T = Record<string, unknown>>(client: KubeClient, apiPath: string): Promise<T | undefined> {
  return read<T>(client, apiPath);
}

/** Waits until `read` returns a value for which `until` holds; returns it. */
export async function eventually<T>(what: string, read: () => Promise<T>, until: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  let last: T | undefined;
  let seen = false;
  try {
    await waitFor(what, async () => {
      last = await read();
      seen = true;
      return until(last);
    }, timeoutMs, 100);
  } catch (error) {
    // What was last seen, so a timeout in CI says how far things got.
    throw seen ? new Error(`${(error as Error).message} (last seen: ${describeValue(last)})`, { cause: error }) : error;
  }
  return last as T;
}

function describeValue(value: unknown): string {
  const text = value instanceof Map ? `Map(${value.size})` : stringifyJson(value) ?? String(value); // objects may hold bigints
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export function configMap(name: string, data: Record<string, string>, labels?: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data };
}

export function deployment(name: string, replicas: number, image = 'registry.example.com/shop/web:1.0') {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } } },
  };
}
