// The Velero phase of `npm run bench`: what most teams would use instead of Lifeboat, on the same objects in the same
// run. Velero v1.18.3, its AWS object-store plugin v1.14.3 and versitygw v1.8.0 (an S3 server over a local
// directory) are built from their Go modules by hack/build-velero.sh (cached outside the repository, ~5 min once).
//
//   backup   a velero server (a process, as `velero server` runs in its pod) against the source backs up the bench's
//            namespaces, its kinds and label only (the objects Lifeboat replicates), into versitygw. Timed from the
//            Backup's creation until its phase is Completed.
//   restore  the source's velero server stops and one against the destination starts (two velero servers cannot run
//            on one host: each binds controller-runtime's metrics port :8080). Once it has synced the backup from
//            the bucket (untimed: --backup-sync-period 1s here, 1 min by default), a Restore maps every namespace to
//            `<namespace>-velero` (the stand-by already holds the originals). Timed until Completed; the restored
//            objects are counted.
//
// RPO and RTO beside Lifeboat's: Velero's RPO is its schedule interval (a backup can start no more often than it takes,
// and what changed since the last one is lost), its RTO the restore; Lifeboat's RPO is the replication lag, its RTO
// `lifeboat recover` at a point in time (the caller measures both).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { KubeError, type KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/ref.ts';
import { freePort } from '../src/sandbox/process.ts';
import { deleteNamespaces, listAll, sleep } from './kube.ts';
import { cpuSecondsOf, PhaseMeter, type PhaseLoad } from './report.ts';
import { kinds, runLabel, type Workload } from './workload.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const namespace = 'velero';
const accessKey = 'lifeboat-bench';
const phaseDeadlineMs = 20 * 60_000;

export interface VeleroBinaries {
  dir: string;
  velero: string;
  plugin: string;
  versitygw: string;
}

export interface VeleroResult {
  version: string;
  objects: number;
  namespaces: number;
  backupSeconds: number;
  backupPhase: string;
  backupItems: number | undefined;
  /** From the destination's velero server starting until the backup shows there (not part of the restore). */
  syncSeconds: number;
  restoreSeconds: number;
  restorePhase: string;
  restoreWarnings: number;
  restoreErrors: number;
  /** Objects of the bench kinds found in the mapped namespaces after the restore (namespaces not counted). */
  restoredObjects: number;
  backupLoad: PhaseLoad;
  restoreLoad: PhaseLoad;
  /** CPU seconds the velero server used in each phase (plugins excluded). */
  backupServerCpuSeconds: number | undefined;
  restoreServerCpuSeconds: number | undefined;
}

/** Builds (once) or finds the binaries; the reason as an error when Go is missing or the build fails. */
export async function veleroBinaries(log: (line: string) => void): Promise<VeleroBinaries> {
  log('velero: bash hack/build-velero.sh (cached after the first build, ~5 min)');
  const { stdout } = await promisify(execFile)('bash', [path.join(repoRoot, 'hack', 'build-velero.sh')], { maxBuffer: 16 * 2 ** 20 }).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`hack/build-velero.sh failed: ${(error.stderr ?? error.message).trim().split('\n').at(-1)}`);
  });
  const dir = stdout.trim().split('\n').at(-1)!;
  return { dir, velero: path.join(dir, 'velero'), plugin: path.join(dir, 'velero-plugin-for-aws'), versitygw: path.join(dir, 'versitygw') };
}

interface Server {
  child: ChildProcess;
  exited: Promise<void>;
}

function start(binary: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Server {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(binary, args, { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

async function stop(server: Server | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const killed = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
  await server.exited;
  clearTimeout(killed);
}

const apply = (client: KubeClient, collection: string, object: KubeObject) => client.request('PATCH', `${collection}/${object.metadata.name}`, object, {
  contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat-bench-velero', force: true },
});

/** What `velero install` would put in a cluster for a server that runs outside it: CRDs, namespace, BSL, its Deployment. */
async function prepareCluster(client: KubeClient, binaries: VeleroBinaries, s3Url: string): Promise<void> {
  const { stdout } = await promisify(execFile)(binaries.velero, ['install', '--crds-only', '--dry-run', '-o', 'json'], { maxBuffer: 64 * 2 ** 20 });
  const crds = (JSON.parse(stdout) as { items: KubeObject[] }).items;
  for (const crd of crds) await apply(client, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { ...crd, apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' });
  const deadline = performance.now() + 60_000;
  for (const crd of crds) {
    for (;;) {
      const found = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      if (found.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
      if (performance.now() > deadline) throw new Error(`velero: CRD ${crd.metadata.name} not established within 60 s`);
      await sleep(200);
    }
  }
  await apply(client, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  // The restore looks its own Deployment up (for the image of its restore helpers); the server runs outside, so it has none.
  // Created when missing, never changed (one made by `velero install` or by hand stays as it is).
  await client.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'velero', namespace },
    spec: { replicas: 0, selector: { matchLabels: { component: 'velero' } }, template: { metadata: { labels: { component: 'velero' } }, spec: { containers: [{ name: 'velero', image: 'velero/velero:v1.18.3' }] } } },
  }).catch((error: unknown) => {
    if (!(error instanceof KubeError && error.code === 409)) throw error;
  });
  await apply(client, `/apis/velero.io/v1/namespaces/${namespace}/backupstoragelocations`, {
    apiVersion: 'velero.io/v1', kind: 'BackupStorageLocation', metadata: { name: 'default', namespace },
    spec: { provider: 'aws', default: true, objectStorage: { bucket: 'velero' }, config: { region: 'us-east-1', s3ForcePathStyle: 'true', s3Url } },
  } as KubeObject);
}

/** Polls until `read` gives a value for which `done` holds, or the deadline. */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, signal: AbortSignal, intervalMs = 100, deadlineMs = phaseDeadlineMs): Promise<T> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    signal.throwIfAborted();
    const value = await read();
    if (done(value)) return value;
    if (performance.now() > deadline) throw new Error(`velero: ${what} not within ${deadlineMs / 1000} s`);
    await sleep(intervalMs);
  }
}

const terminal = new Set(['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation']);

interface Status {
  phase?: string;
  warnings?: number;
  errors?: number;
  progress?: { itemsBackedUp?: number; totalItems?: number; itemsRestored?: number };
}

export async function veleroBench(options: {
  binaries: VeleroBinaries; kubeconfig: string; source: KubeClient; destination: KubeClient; workload: Workload; sandboxPids: Record<string, number>;
  log: (line: string) => void; signal: AbortSignal;
}): Promise<VeleroResult> {
  const { binaries, kubeconfig, source, destination, workload, log, signal } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-velero-${workload.run}-`));
  const secret = `bench-${Math.random().toString(36).slice(2)}`;
  const credentials = path.join(dir, 'credentials');
  fs.writeFileSync(credentials, `[default]\naws_access_key_id=${accessKey}\naws_secret_access_key=${secret}\n`, { mode: 0o600 });
  const plugins = path.join(dir, 'plugins');
  fs.mkdirSync(plugins);
  fs.symlinkSync(binaries.plugin, path.join(plugins, 'velero-plugin-for-aws'));
  fs.mkdirSync(path.join(dir, 's3', 'velero'), { recursive: true });
  const s3Port = await freePort();
  const s3Url = `http://127.0.0.1:${s3Port}`;
  const name = `${workload.run}-bench`;
  const mapped = workload.namespaces.map((ns) => `${ns}-velero`);
  let gateway: Server | undefined;
  let server: Server | undefined;
  const serverArgs = async (context: string) => ['server', '--kubeconfig', kubeconfig, '--kubecontext', context, '--namespace', namespace, '--plugin-dir', plugins,
    '--metrics-address', `127.0.0.1:${await freePort()}`, '--profiler-address', `127.0.0.1:${await freePort()}`, '--backup-sync-period', '1s', '--log-level', 'warning'];
  const serverEnv = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: credentials };
  const veleroPath = (kind: string, object = '') => `/apis/velero.io/v1/namespaces/${namespace}/${kind}${object ? `/${object}` : ''}`;
  const available = (client: KubeClient) => until('the BackupStorageLocation Available', () => client.request<{ status?: { phase?: string } }>('GET', veleroPath('backupstoragelocations', 'default')), (bsl) => bsl.status?.phase === 'Available', signal, 250, 120_000);
  try {
    gateway = start(binaries.versitygw, ['--port', `127.0.0.1:${s3Port}`, 'posix', path.join(dir, 's3')], { ...process.env, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secret }, path.join(dir, 'versitygw.log'));
    await Promise.all([prepareCluster(source, binaries, s3Url), prepareCluster(destination, binaries, s3Url)]);

    log(`velero: backing up ${workload.objects.length} objects in ${workload.namespaces.length} namespaces of the source (server: velero server --kubecontext source)`);
    server = start(binaries.velero, await serverArgs('source'), serverEnv, path.join(dir, 'velero-source.log'));
    await available(source);
    const kindsIncluded = ['namespaces', ...kinds.map((spec) => spec.collection.split('/').at(-1)!)];
    let meter = new PhaseMeter({ ...options.sandboxPids, 'velero server': server.child.pid! });
    let cpuBefore = cpuSecondsOf(server.child.pid!);
    let started = performance.now();
    await source.request('POST', veleroPath('backups'), {
      apiVersion: 'velero.io/v1', kind: 'Backup', metadata: { name, namespace },
      spec: { includedNamespaces: workload.namespaces, includedResources: kindsIncluded, labelSelector: { matchLabels: { [runLabel]: workload.run } }, snapshotVolumes: false, storageLocation: 'default', ttl: '2h0m0s' },
    });
    const backup = await until('the backup', async () => (await source.request<{ status?: Status }>('GET', veleroPath('backups', name))).status ?? {}, (status) => terminal.has(status.phase ?? ''), signal);
    const backupSeconds = (performance.now() - started) / 1000;
    const backupServerCpuSeconds = diff(cpuBefore, cpuSecondsOf(server.child.pid!));
    const backupLoad = meter.stop();
    log(`velero: backup ${backup.phase} in ${backupSeconds.toFixed(1)} s (${backup.progress?.itemsBackedUp ?? '?'} items)`);
    if (backup.phase !== 'Completed') throw new Error(`velero: backup ended ${backup.phase}; see ${path.join(dir, 'velero-source.log')}`);
    await stop(server);

    server = start(binaries.velero, await serverArgs('destination'), serverEnv, path.join(dir, 'velero-destination.log'));
    started = performance.now();
    await available(destination);
    await until('the backup synced to the destination', () => destination.request('GET', veleroPath('backups', name)).then(() => true, () => false), Boolean, signal, 250, 180_000);
    const syncSeconds = (performance.now() - started) / 1000;
    log(`velero: the destination's server synced the backup in ${syncSeconds.toFixed(1)} s; restoring into ${mapped.length} namespaces <namespace>-velero`);
    meter = new PhaseMeter({ ...options.sandboxPids, 'velero server': server.child.pid! });
    cpuBefore = cpuSecondsOf(server.child.pid!);
    started = performance.now();
    await destination.request('POST', veleroPath('restores'), {
      apiVersion: 'velero.io/v1', kind: 'Restore', metadata: { name, namespace },
      spec: { backupName: name, namespaceMapping: Object.fromEntries(workload.namespaces.map((ns, index) => [ns, mapped[index]!])), restorePVs: false },
    });
    const restore = await until('the restore', async () => (await destination.request<{ status?: Status }>('GET', veleroPath('restores', name))).status ?? {}, (status) => terminal.has(status.phase ?? ''), signal);
    const restoreSeconds = (performance.now() - started) / 1000;
    const restoreServerCpuSeconds = diff(cpuBefore, cpuSecondsOf(server.child.pid!));
    const restoreLoad = meter.stop();
    const inMapped = new Set(mapped);
    let restoredObjects = 0;
    for (const spec of kinds) restoredObjects += (await listAll(destination, spec.collection, { labelSelector: `${runLabel}=${workload.run}` })).items.filter((item) => inMapped.has(item.metadata.namespace ?? '')).length;
    log(`velero: restore ${restore.phase} in ${restoreSeconds.toFixed(1)} s: ${restoredObjects} of ${workload.objects.length} objects in the destination (${restore.warnings ?? 0} warnings, ${restore.errors ?? 0} errors)`);
    return {
      version: 'v1.18.3', objects: workload.objects.length, namespaces: workload.namespaces.length,
      backupSeconds, backupPhase: backup.phase ?? '?', backupItems: backup.progress?.itemsBackedUp, syncSeconds,
      restoreSeconds, restorePhase: restore.phase ?? '?', restoreWarnings: restore.warnings ?? 0, restoreErrors: restore.errors ?? 0, restoredObjects,
      backupLoad, restoreLoad, backupServerCpuSeconds, restoreServerCpuSeconds,
    };
  } finally {
    await stop(server);
    await stop(gateway);
    for (const [client, kind] of [[source, 'backups'], [destination, 'backups'], [destination, 'restores']] as const) {
      await client.request('DELETE', veleroPath(kind, name)).catch(() => undefined);
    }
    const left = await deleteNamespaces(destination, mapped, 180_000).catch(() => mapped.length);
    if (left) log(`velero: ${left} namespaces <namespace>-velero still terminating`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function diff(before: number | undefined, after: number | undefined): number | undefined {
  return before === undefined || after === undefined ? undefined : Math.round((after - before) * 100) / 100;
}
