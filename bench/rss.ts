// The memory phase of `npm run bench` (and `npm run bench:rss [-- --objects 10000]` alone): the resident memory of
// `lifeboat run` itself — a separate process started by bin/lifeboat.js, as a person runs it — through the initial
// sync of N objects (ConfigMaps, Secrets, headless Services across 100 namespaces) and a while after it. Peak = the
// kernel's high-water mark (VmHWM). Target (issue 19): ≤ 150 MB at 10,000 objects, ≤ 400 MB at 50,000.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { Bus } from '../src/bus/bus.ts';
import { KubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { defaultSandboxDir, sandboxUp, type SandboxInfo } from '../src/sandbox/sandbox.ts';
import { freePort, waitFor } from '../src/sandbox/process.ts';
import { StateStore } from '../src/state/state.ts';
import { createNamespaces, deleteNamespaces, mapLimit } from './kube.ts';

/** A process's resident memory and its high-water mark, in MiB. */
export function memory(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

const repoRoot = new URL('../', import.meta.url).pathname;

export interface RssResult {
  objects: number;
  syncSeconds: number;
  readyRssMiB: number;
  peakMiB: number;
  laterRssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
}

/**
 * `lifeboat run` as a person starts it (bin/lifeboat.js: the compiled dist/ when fresh), on the sandbox's NATS and
 * Redis, its metrics and /readyz on `metricsPort`, errors to this process's stderr.
 */
export function spawnLifeboatRun(info: SandboxInfo, plans: string, mirror: string, metricsPort: number): ChildProcess {
  return spawn(process.execPath, [path.join(repoRoot, 'bin/lifeboat.js'), 'run', '--plans', plans, '--mirror', mirror,
    '--metrics-addr', `127.0.0.1:${metricsPort}`, '--identity', path.join(repoRoot, 'plans/sandbox/demo-identity.txt')],
  { env: { ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Stops a child started by spawnLifeboatRun (SIGTERM: it drains and exits) and waits for it. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export async function rssBench(info: SandboxInfo, objects: number, namespaceCount: number, waitSeconds: number, log: (line: string) => void): Promise<RssResult> {
  const run = `rss-${randomBytes(3).toString('hex')}`;
  const source = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context: 'source' }), { maxSockets: 40 });
  const destination = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context: 'destination' }), { maxSockets: 8 });
  const namespaces = Array.from({ length: namespaceCount }, (_, index) => `${run}-${String(index).padStart(3, '0')}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${run}-`));
  let child: ChildProcess | undefined;
  try {
    await createNamespaces(source, namespaces, { 'lifeboat.dev/bench': run }, 16);
    const made = Array.from({ length: objects }, (_, index) => {
      const namespace = namespaces[index % namespaces.length]!;
      const name = `o-${index}`;
      const kind = index % 4 === 0 ? 'Secret' : index % 4 === 1 ? 'Service' : 'ConfigMap';
      const body = kind === 'Secret' ? { apiVersion: 'v1', kind, metadata: { name }, stringData: { password: randomBytes(12).toString('hex') } }
        : kind === 'Service' ? { apiVersion: 'v1', kind, metadata: { name }, spec: { clusterIP: 'None', ports: [{ port: 80 }], selector: { app: name } } }
          : { apiVersion: 'v1', kind, metadata: { name }, data: { index: String(index), payload: 'x'.repeat(400) } };
      return { namespace, kind, body };
    });
    const collection = (kind: string) => (kind === 'Secret' ? 'secrets' : kind === 'Service' ? 'services' : 'configmaps');
    await mapLimit(made, 32, (item) => source.request('POST', `/api/v1/namespaces/${item.namespace}/${collection(item.kind)}`, item.body));
    log(`created ${objects} objects in ${namespaceCount} namespaces`);

    const plans = path.join(dir, 'plans');
    fs.mkdirSync(plans);
    const cluster = (name: string, context: string) => ({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: info.kubeconfig, context } } });
    fs.writeFileSync(path.join(plans, 'plan.yaml'), [cluster('source', 'source-reader'), cluster('destination', 'destination-writer'), {
      apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: run },
      spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [`${run}-*`] }] },
        secrets: { recipients: ['age12ruvwe3f4fdkav59t5ue56p6djfq2rhjssy444v455c3zahgv9nsh5qclp'] }, sync: { concurrency: 16 } },
    }].map((document) => stringify(document)).join('---\n'));
    const port = await freePort();
    const started = Date.now();
    child = spawnLifeboatRun(info, plans, path.join(dir, 'mirror.git'), port);
    await waitFor('lifeboat ready', () => fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status === 200, () => false), 15 * 60_000, 250);
    const ready = { ...memory(child.pid!), at: Date.now() };
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0) / 2 ** 20;
    log(`at ready: V8 heap used ${gauge('lifeboat_nodejs_heap_size_used_bytes').toFixed(0)} MB of ${gauge('lifeboat_nodejs_heap_size_total_bytes').toFixed(0)} MB, external ${gauge('lifeboat_nodejs_external_memory_bytes').toFixed(0)} MB`);
    log(`initial sync of ${objects} objects done in ${((ready.at - started) / 1000).toFixed(1)} s: RSS ${ready.rss.toFixed(0)} MB, peak ${ready.hwm.toFixed(0)} MB`);
    await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
    const later = memory(child.pid!);
    log(`${waitSeconds} s later: RSS ${later.rss.toFixed(0)} MB, peak ${later.hwm.toFixed(0)} MB (target: ≤ ${objects > 10_000 ? 400 : 150} MB) — ${later.hwm <= (objects > 10_000 ? 400 : 150) ? 'PASS' : 'FAIL'}`);
    return {
      objects, syncSeconds: (ready.at - started) / 1000, readyRssMiB: ready.rss, peakMiB: later.hwm, laterRssMiB: later.rss,
      heapUsedMiB: gauge('lifeboat_nodejs_heap_size_used_bytes'), heapTotalMiB: gauge('lifeboat_nodejs_heap_size_total_bytes'), externalMiB: gauge('lifeboat_nodejs_external_memory_bytes'),
    };
  } finally {
    await stopChild(child);
    log('cleanup');
    await Promise.all([deleteNamespaces(source, namespaces, 180_000), deleteNamespaces(destination, namespaces, 180_000)]);
    const state = await StateStore.connect(info.redisUrl);
    await state.forget(run);
    await state.close();
    const bus = await Bus.connect(info.natsUrl);
    await bus.removePlan(run);
    await bus.close();
    fs.rmSync(dir, { recursive: true, force: true });
    source.close();
    destination.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { objects: { type: 'string', default: '10000' }, namespaces: { type: 'string', default: '100' } } });
  const log = (line: string) => console.log(`[rss] ${line}`);
  try {
    await rssBench(await sandboxUp(defaultSandboxDir()), Number(values.objects), Number(values.namespaces), 30, log);
    process.exit(0);
  } catch (error) {
    log(`error: ${(error as Error).message}`);
    process.exit(1);
  }
}
