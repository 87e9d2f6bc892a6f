// The local sandbox: two real Kubernetes control planes, source and destination (etcd + kube-apiserver +
// kube-controller-manager, no kubelet, no scheduler), NATS with JetStream and Redis, all on loopback; with
// `management`, a third control plane for the 3-cluster topology (a management cluster runs Lifeboat's operator,
// which syncs source → destination), kept by every later `up` once the sandbox has it. `up` is idempotent: components that are running and
// healthy are kept, the rest are (re)started; a start that fails stops what it started and removes a fresh directory.
// Kubeconfigs and RBAC are in access.ts, health probes in health.ts, names and directories in layout.ts.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { applyRbac, writeKubeconfigs } from './access.ts';
import { controlPlaneProbes, httpOk, redisPing } from './health.ts';
import {
  clusterDir, clusterNames, clustersOf, clusterState, leastPrivilegeUsers, type ClusterName, type ClusterState, type OptionalClusterName,
  type SandboxState,
} from './layout.ts';
import { locateBinaries, type Binaries } from './binaries.ts';
import { ensureClusterCertificates, type ClientUser } from './certs.ts';
import { ensureCredentials, natsAuthorization, readCredentials, redisAcl, redisUserName, urlWith, type SandboxCredentials } from './credentials.ts';
import { ensurePrerequisites } from './prerequisites.ts';
import {
  natsClusterNodes, natsClusterUrl, natsNodeHealthy, redisSentinelPorts, redisSentinelUrl, sentinelMaster, sentinelPrimaryPort, startNatsCluster,
  startRedisSentinel, type RedisSentinelSet,
} from './clustered.ts';
import { freePort, isRunning, portInUse, residentBytes, startDetached, stopProcess, tail, waitFor } from './process.ts';
import { writeFileAtomic } from '../util/file.ts';

export { clusterNames, clustersOf, type ClusterName, type SandboxState };

/**
 * Each cluster's service CIDR and preferred ports (a port taken when the cluster is first created is replaced). All
 * are below Linux's ephemeral range (32768–60999): a port in it can be taken by any outgoing connection between the
 * moment it is picked and the moment its server binds it (36444 was, by a connection of the sandbox's own).
 */
const clusterDefaults: Record<ClusterName, Pick<ClusterState, 'serviceCidr' | 'ports'>> = {
  source: { serviceCidr: '10.0.0.0/24', ports: { etcdClient: 12379, etcdPeer: 12380, apiserver: 16443, controllerManager: 16444 } },
  destination: { serviceCidr: '10.0.1.0/24', ports: { etcdClient: 22379, etcdPeer: 22380, apiserver: 26443, controllerManager: 26444 } },
  management: { serviceCidr: '10.0.2.0/24', ports: { etcdClient: 32379, etcdPeer: 32380, apiserver: 32443, controllerManager: 32444 } },
};
const defaultPorts = {
  nats: { client: 14222, monitor: 18222 },
  redis: { port: 16379 },
} as const;

/** The controllers a sandbox cluster runs: enough for workloads, namespaces and GC to behave as in a real cluster. */
export const controllers = [
  'namespace-controller', 'garbage-collector-controller', 'deployment-controller', 'replicaset-controller',
  'statefulset-controller', 'daemonset-controller', 'job-controller', 'cronjob-controller',
  'serviceaccount-controller', 'serviceaccount-token-controller',
] as const;

/** Identities minted per cluster. The admin drives the controllers; the others are least-privilege users. */
function usersOf(name: ClusterName): ClientUser[] {
  const identity = leastPrivilegeUsers[name];
  return [
    { file: 'admin', user: 'lifeboat-admin', groups: ['system:masters'] },
    ...(identity ? [{ file: identity.name, user: identity.user, groups: [] }] : []),
  ];
}

export interface SandboxUpOptions {
  /** Adds the management cluster; a sandbox that has it keeps it in every later `up`, with or without this. */
  management?: boolean;
  /**
   * NATS as a cluster of this many nodes (streams replicated on up to 3) instead of one server; kept by every later
   * `up` once the sandbox has it.
   */
  natsCluster?: number;
  /** Redis as a primary, a replica and three sentinels instead of one server; kept by every later `up`. */
  redisSentinel?: boolean;
}

export interface SandboxInfo {
  dir: string;
  kubeconfig: string;
  /** As lifeboat's user (`lifeboat`), with its password, when the sandbox runs with authentication. */
  natsUrl: string;
  redisUrl: string;
  /** The directory holding the sandbox's binaries and kubectl, put first on PATH by `environmentLines`. */
  binDir?: string;
}

export interface ComponentStatus {
  component: string;
  pid: number | undefined;
  running: boolean;
  healthy: boolean;
  endpoint: string;
  residentBytes: number;
}

export type Logger = (line: string) => void;

export function defaultSandboxDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.LIFEBOAT_SANDBOX_DIR ?? path.join(process.cwd(), '.lifeboat', 'sandbox'));
}

export function sandboxInfo(dir: string, state: SandboxState): SandboxInfo {
  // A state written before kubectl was built with the others has no kubectl: it sits beside kube-apiserver.
  const binaries: Partial<Binaries> | undefined = state.binaries;
  const kubectlOrServer = binaries?.kubectl ?? binaries?.kubeApiserver;
  // A sandbox made before it had credentials runs without authentication until its next `up`.
  const credentials = readCredentials(dir);
  return {
    dir,
    kubeconfig: path.join(dir, 'kubeconfig'),
    natsUrl: state.nats.cluster
      ? natsClusterUrl(state.nats.cluster, credentials ? { user: 'lifeboat', password: credentials.nats.lifeboat } : undefined)
      : urlWith('nats', state.nats.client, 'lifeboat', state.nats.auth ? credentials?.nats.lifeboat : undefined),
    redisUrl: state.redis.sentinel
      ? redisSentinelUrl(state.redis.sentinel, credentials ? { user: redisUserName('lifeboat'), password: credentials.redis.lifeboat } : undefined)
      : urlWith('redis', state.redis.port, redisUserName('lifeboat'), state.redis.auth ? credentials?.redis.lifeboat : undefined),
    ...(kubectlOrServer ? { binDir: path.dirname(kubectlOrServer) } : {}),
  };
}

/** `export` lines for a shell: `eval "$(lifeboat sandbox env)"`; PATH first gets the sandbox's kubectl. */
export function environmentLines(info: SandboxInfo): string {
  return [
    `export KUBECONFIG=${info.kubeconfig}`,
    `export LIFEBOAT_NATS_URL=${info.natsUrl}`,
    `export LIFEBOAT_REDIS_URL=${info.redisUrl}`,
    `export LIFEBOAT_SANDBOX_DIR=${info.dir}`,
    ...(info.binDir ? [`export PATH=${info.binDir}:$PATH`] : []),
  ].join('\n');
}

const stateFile = (dir: string) => path.join(dir, 'sandbox.json');

export function readState(dir: string): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

function writeState(dir: string, state: SandboxState): void {
  writeFileAtomic(stateFile(dir), JSON.stringify(state, null, 2));
}

async function pickPort(preferred: number, taken: Set<number>): Promise<number> {
  let port = preferred;
  while (taken.has(port) || (await portInUse(port))) port = await freePort();
  taken.add(port);
  return port;
}

async function newCluster(name: ClusterName, taken: Set<number>): Promise<ClusterState> {
  const { serviceCidr, ports } = clusterDefaults[name];
  return {
    serviceCidr,
    ports: {
      etcdClient: await pickPort(ports.etcdClient, taken),
      etcdPeer: await pickPort(ports.etcdPeer, taken),
      apiserver: await pickPort(ports.apiserver, taken),
      controllerManager: await pickPort(ports.controllerManager, taken),
    },
    pids: {},
  };
}

/** Every port the sandbox's state gives out: a cluster added later must not pick one of them. */
function portsOf(state: SandboxState): Set<number> {
  return new Set([
    ...clustersOf(state).flatMap((name) => Object.values(clusterState(state, name).ports)),
    state.nats.client, state.nats.monitor, state.redis.port,
    ...(state.nats.cluster ?? []).flatMap((node) => [node.client, node.monitor, node.route]),
    ...(state.redis.sentinel ? [state.redis.sentinel.ports.primary, state.redis.sentinel.ports.replica, ...state.redis.sentinel.ports.sentinels] : []),
  ]);
}

async function newState(): Promise<SandboxState> {
  const taken = new Set<number>();
  return {
    version: 1,
    clusters: { source: await newCluster('source', taken), destination: await newCluster('destination', taken) },
    nats: { client: await pickPort(defaultPorts.nats.client, taken), monitor: await pickPort(defaultPorts.nats.monitor, taken) },
    redis: { port: await pickPort(defaultPorts.redis.port, taken) },
  };
}

/** Serialises `up`/`down` on one directory across processes (two test files may ask at the same time). */
async function withLock<T>(dir: string, action: () => Promise<T>): Promise<T> {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, '.lock');
  await waitFor(`the sandbox lock ${lock}`, () => {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      const holder = Number(fs.readFileSync(lock, 'utf8') || 0);
      if (!holder || !isRunning(holder, 'node')) fs.rmSync(lock, { force: true }); // stale lock of a dead process
      return false;
    }
  }, 15 * 60_000, 250);
  try {
    return await action();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

interface Starter {
  component: string;
  binary: string;
  running: () => boolean;
  /** Running, but started with another configuration (users and permissions): restarted. */
  outdated?: () => boolean;
  stop?: () => Promise<void>;
  start: () => number;
  healthy: () => Promise<boolean>;
  log: string;
  timeoutMs: number;
}

async function startAll(starters: Starter[], log: Logger, started: { pid: number; binary: string }[]): Promise<void> {
  await Promise.all(starters.map(async (starter) => {
    if (starter.running() && starter.outdated?.()) {
      await starter.stop?.();
      log(`stopped ${starter.component} to start it with its new configuration`);
    }
    if (starter.running() && (await starter.healthy())) return;
    if (starter.running()) {
      // Running but not healthy yet (e.g. another `up` just started it): give it its start timeout.
    } else {
      const pid = starter.start();
      started.push({ pid, binary: starter.binary });
      log(`started ${starter.component} (pid ${pid})`);
    }
    try {
      let exited = false;
      await waitFor(`${starter.component} to become healthy`, async () => {
        // Healthy answers from a process that is not ours (it exited: its port was taken) do not count, and a process
        // that exited will not become healthy: no use waiting out the timeout.
        exited = !starter.running();
        return exited || starter.healthy();
      }, starter.timeoutMs, 200);
      if (exited) throw new Error(`gave up waiting for ${starter.component} to become healthy: it exited`);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- last lines of ${starter.log} ---\n${tail(starter.log)}`, { cause: error });
    }
  }));
}

function controlPlaneStarters(dir: string, name: ClusterName, state: SandboxState, binaries: Binaries, phase: 'etcd' | 'apiserver' | 'controller-manager'): Starter {
  const cluster = clusterState(state, name);
  const probes = controlPlaneProbes(dir, name, cluster);
  const base = clusterDir(dir, name);
  const certs = path.join(base, 'certs');
  const logs = path.join(base, 'logs');
  const startTimeout = Number(process.env.LIFEBOAT_SANDBOX_START_TIMEOUT_MS ?? 120_000);
  if (phase === 'etcd') {
    const log = path.join(logs, 'etcd.log');
    return {
      component: `${name}/etcd`, binary: binaries.etcd, log, timeoutMs: startTimeout,
      running: () => isRunning(cluster.pids.etcd, binaries.etcd),
      start: () => (cluster.pids.etcd = startDetached(binaries.etcd, [
        `--name=${name}`, `--data-dir=${path.join(base, 'etcd-data')}`,
        `--listen-client-urls=http://127.0.0.1:${cluster.ports.etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${cluster.ports.etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${cluster.ports.etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${cluster.ports.etcdPeer}`,
        `--initial-cluster=${name}=http://127.0.0.1:${cluster.ports.etcdPeer}`, '--unsafe-no-fsync=true', '--log-level=warn',
        '--quota-backend-bytes=4294967296',
      ], log).pid),
      healthy: probes.etcd,
    };
  }
  if (phase === 'apiserver') {
    const log = path.join(logs, 'kube-apiserver.log');
    return {
      component: `${name}/kube-apiserver`, binary: binaries.kubeApiserver, log, timeoutMs: startTimeout,
      running: () => isRunning(cluster.pids.apiserver, binaries.kubeApiserver),
      start: () => (cluster.pids.apiserver = startDetached(binaries.kubeApiserver, [
        `--etcd-servers=http://127.0.0.1:${cluster.ports.etcdClient}`, `--cert-dir=${certs}`,
        `--tls-cert-file=${path.join(certs, 'apiserver.crt')}`, `--tls-private-key-file=${path.join(certs, 'apiserver.key')}`,
        `--secure-port=${cluster.ports.apiserver}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none', `--service-cluster-ip-range=${cluster.serviceCidr}`, '--allow-privileged=true',
        '--authorization-mode=RBAC', `--client-ca-file=${path.join(certs, 'client-ca.crt')}`,
        `--service-account-issuer=https://127.0.0.1:${cluster.ports.apiserver}/`,
        `--service-account-key-file=${path.join(certs, 'sa-signer.pub')}`,
        `--service-account-signing-key-file=${path.join(certs, 'sa-signer.key')}`,
      ], log).pid),
      healthy: probes.apiserver,
    };
  }
  const log = path.join(logs, 'kube-controller-manager.log');
  return {
    component: `${name}/kube-controller-manager`, binary: binaries.kubeControllerManager, log, timeoutMs: startTimeout,
    running: () => isRunning(cluster.pids.controllerManager, binaries.kubeControllerManager),
    start: () => (cluster.pids.controllerManager = startDetached(binaries.kubeControllerManager, [
      `--kubeconfig=${path.join(base, 'admin.kubeconfig')}`, `--controllers=${controllers.join(',')}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${cluster.ports.controllerManager}`,
      `--cert-dir=${path.join(base, 'controller-manager-certs')}`,
      `--service-account-private-key-file=${path.join(certs, 'sa-signer.key')}`, `--root-ca-file=${path.join(certs, 'serving-ca.crt')}`,
      '--use-service-account-credentials=false', `--cluster-name=${name}`, `--service-cluster-ip-range=${cluster.serviceCidr}`,
      '--concurrent-gc-syncs=20', '--concurrent-namespace-syncs=10',
      // The default 20 requests/s left 1,000 new Deployments reconciling for two and a half minutes.
      '--kube-api-qps=200', '--kube-api-burst=400',
    ], log).pid),
    healthy: probes.controllerManager,
  };
}

/** The files that give nats-server and redis-server their users (mode 0600), and their fingerprint. */
function writeServiceAuth(dir: string, credentials: SandboxCredentials): { natsConfig: string; redisAcl: string; nats: string; redis: string } {
  const natsConfig = path.join(dir, 'nats', 'auth.conf');
  const aclFile = path.join(dir, 'redis', 'users.acl');
  const natsText = natsAuthorization(credentials);
  const aclText = redisAcl(credentials);
  fs.writeFileSync(natsConfig, natsText, { mode: 0o600 });
  fs.writeFileSync(aclFile, aclText, { mode: 0o600 });
  const fingerprint = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
  return { natsConfig, redisAcl: aclFile, nats: fingerprint(natsText), redis: fingerprint(aclText) };
}

function serviceStarters(dir: string, state: SandboxState, binaries: Binaries, credentials: SandboxCredentials): Starter[] {
  const natsLog = path.join(dir, 'nats', 'nats-server.log');
  const redisLog = path.join(dir, 'redis', 'redis-server.log');
  const auth = writeServiceAuth(dir, credentials);
  const starters: Starter[] = [
    {
      component: 'nats-server', binary: binaries.natsServer, log: natsLog, timeoutMs: 30_000,
      running: () => isRunning(state.nats.pid, binaries.natsServer),
      outdated: () => state.nats.auth !== auth.nats,
      stop: () => stopProcess(state.nats.pid, binaries.natsServer, 10_000),
      start: () => {
        state.nats.auth = auth.nats;
        return (state.nats.pid = startDetached(binaries.natsServer, [
          '-c', auth.natsConfig, '-a', '127.0.0.1', '-p', String(state.nats.client), '-m', String(state.nats.monitor), '-js', '-sd', path.join(dir, 'nats', 'jetstream'),
          '--server_name', 'lifeboat-sandbox',
        ], natsLog).pid);
      },
      healthy: () => httpOk(`http://127.0.0.1:${state.nats.monitor}/healthz?js-enabled-only=true`),
    },
    {
      component: 'redis-server', binary: binaries.redisServer, log: redisLog, timeoutMs: 30_000,
      running: () => isRunning(state.redis.pid, binaries.redisServer),
      outdated: () => state.redis.auth !== auth.redis,
      stop: () => stopProcess(state.redis.pid, binaries.redisServer, 10_000),
      start: () => {
        state.redis.auth = auth.redis;
        return (state.redis.pid = startDetached(binaries.redisServer, [
          '--port', String(state.redis.port), '--bind', '127.0.0.1', '--dir', path.join(dir, 'redis'), '--save', '',
          '--appendonly', 'yes', '--appendfsync', 'everysec', '--daemonize', 'no', '--logfile', '', '--aclfile', auth.redisAcl,
        ], redisLog).pid);
      },
      healthy: () => redisPing(state.redis.port, credentials.redis.lifeboat),
    },
  ];
  // The clustered forms take the single servers' place (started by startClustered).
  return starters.filter((starter) => (starter.component === 'nats-server' ? !state.nats.cluster : !state.redis.sentinel));
}

/** The administrator of the sandbox's sentinel set (replication and failover), its password generated once. */
function sentinelAdmin(dir: string): { user: string; password: string } {
  const file = path.join(dir, 'redis', 'sentinel-admin.json');
  if (!fs.existsSync(file)) fs.writeFileSync(file, JSON.stringify({ user: 'lifeboat-sentinel', password: randomBytes(24).toString('base64url') }), { mode: 0o600 });
  return JSON.parse(fs.readFileSync(file, 'utf8')) as { user: string; password: string };
}

/** Starts the members of the NATS cluster and the sentinel set that are not running (each waits until it is usable). */
async function startClustered(dir: string, state: SandboxState, binaries: Binaries, started: { pid: number; binary: string }[], log: Logger): Promise<void> {
  const record = (pids: (number | undefined)[], binary: string, before: Set<number | undefined>) => {
    for (const pid of pids) if (pid && !before.has(pid)) started.push({ pid, binary });
  };
  const natsJob = (async () => {
    const nodes = state.nats.cluster;
    if (!nodes) return;
    const before = new Set(nodes.map((node) => node.pid));
    try {
      await startNatsCluster({ binary: binaries.natsServer, dir: path.join(dir, 'nats-cluster'), config: path.join(dir, 'nats', 'auth.conf'), nodes });
    } finally {
      record(nodes.map((node) => node.pid), binaries.natsServer, before);
    }
    log(`NATS cluster of ${nodes.length} up (${nodes.map((node) => `${node.name} pid ${node.pid}`).join(', ')})`);
  })();
  const redisJob = (async () => {
    const set = state.redis.sentinel;
    if (!set) return;
    const before = new Set([set.pids.primary, set.pids.replica, ...set.pids.sentinels]);
    try {
      await startRedisSentinel({
        binary: binaries.redisServer, dir, set, acl: { file: path.join(dir, 'redis', 'users.acl'), admin: sentinelAdmin(dir) },
      });
    } finally {
      record([set.pids.primary, set.pids.replica, ...set.pids.sentinels], binaries.redisServer, before);
    }
    log(`Redis with Sentinel up (primary on ${await sentinelPrimaryPort(set)}, master name ${set.master})`);
  })();
  const results = await Promise.allSettled([natsJob, redisJob]);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

/**
 * Brings the sandbox up (or confirms it is up), with the clusters its state has and those `options` add. Returns how
 * to reach it.
 */
export async function sandboxUp(dir: string, log: Logger = () => {}, options: SandboxUpOptions = {}): Promise<SandboxInfo> {
  ensurePrerequisites(process.env, log);   // before the build: one pass, every missing prerequisite named
  const binaries = locateBinaries();
  const fresh = !fs.existsSync(stateFile(dir));
  return withLock(dir, async () => {
    const state = readState(dir) ?? (await newState());
    state.binaries = binaries;
    // A cluster added by this run is taken out again if its start fails (the sandbox stays as it was).
    const added: OptionalClusterName[] = [];
    if (options.management && !state.clusters.management) {
      state.clusters.management = await newCluster('management', portsOf(state));
      added.push('management');
    }
    if (options.natsCluster !== undefined && options.natsCluster > 1 && state.nats.cluster?.length !== options.natsCluster) {
      if (state.nats.cluster) throw new Error(`the sandbox's NATS is a cluster of ${state.nats.cluster.length}: \`sandbox down\` it to make one of ${options.natsCluster}`);
      state.nats.cluster = await natsClusterNodes(options.natsCluster, portsOf(state));
    }
    if (options.redisSentinel && !state.redis.sentinel) {
      const sentinel: RedisSentinelSet = { master: sentinelMaster, ports: await redisSentinelPorts(portsOf(state)), pids: { sentinels: [] } };
      state.redis.sentinel = sentinel;
    }
    const clusters = clustersOf(state);
    for (const name of clusters) {
      const base = clusterDir(dir, name);
      fs.mkdirSync(path.join(base, 'logs'), { recursive: true });
      ensureClusterCertificates(path.join(base, 'certs'), usersOf(name));
    }
    fs.mkdirSync(path.join(dir, 'nats'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'redis'), { recursive: true });
    const credentials = ensureCredentials(dir);
    writeKubeconfigs(dir, state);
    const started: { pid: number; binary: string }[] = [];
    try {
      const services = startAll(serviceStarters(dir, state, binaries, credentials), log, started);
      // Awaited after the control planes; a service that fails before then must not be an unhandled rejection (it
      // would end the process there, leaving what it started running, unrecorded).
      services.catch(() => undefined);
      const phase = (which: Parameters<typeof controlPlaneStarters>[4]) => clusters.map((name) => controlPlaneStarters(dir, name, state, binaries, which));
      await startAll(phase('etcd'), log, started);
      writeState(dir, state);
      await startAll(phase('apiserver'), log, started);
      writeState(dir, state);
      await Promise.all(clusters.map((name) => applyRbac(dir, name)));
      await startAll(phase('controller-manager'), log, started);
      await services;
      await startClustered(dir, state, binaries, started, log);
      writeState(dir, state);
    } catch (error) {
      log('start failed; stopping what this run started');
      await Promise.all(started.map((p) => stopProcess(p.pid, p.binary, 5000)));
      if (fresh) fs.rmSync(dir, { recursive: true, force: true });
      else {
        for (const name of added) {
          delete state.clusters[name];
          fs.rmSync(clusterDir(dir, name), { recursive: true, force: true });
        }
        if (added.length) writeKubeconfigs(dir, state);
        writeState(dir, state);
      }
      throw error;
    }
    return sandboxInfo(dir, state);
  });
}

/** Stops every process; removes the directory unless `keep` (then a later `up` resumes with the same data). */
/** The demo's `lifeboat run --console-addr`, left running with the sandbox (`PID NODE-PATH`; `sandbox down` stops it). */
export const demoRunPidFile = 'demo-run.pid';

export async function sandboxDown(dir: string, options: { keep?: boolean } = {}, log: Logger = () => {}): Promise<void> {
  const state = readState(dir);
  if (!state) {
    if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  await withLock(dir, async () => {
    const binaries = state.binaries;
    const stop = async (component: string, pid: number | undefined, binary: string | undefined) => {
      if (!binary || !isRunning(pid, binary)) return;
      await stopProcess(pid, binary);
      log(`stopped ${component}`);
    };
    // What the demo left running on the sandbox (`lifeboat run` serving the console) goes first.
    const companion = path.join(dir, demoRunPidFile);
    if (fs.existsSync(companion)) {
      const [pid, binary] = fs.readFileSync(companion, 'utf8').trim().split(' ');
      await stop('the demo\'s lifeboat run (console)', Number(pid), binary);
      fs.rmSync(companion, { force: true });
    }
    const clusters = clustersOf(state).map((name) => ({ name, cluster: clusterState(state, name) }));
    await Promise.all(clusters.map(({ name, cluster }) => stop(`${name}/kube-controller-manager`, cluster.pids.controllerManager, binaries?.kubeControllerManager)));
    await Promise.all(clusters.map(({ name, cluster }) => stop(`${name}/kube-apiserver`, cluster.pids.apiserver, binaries?.kubeApiserver)));
    await Promise.all([
      ...clusters.map(({ name, cluster }) => stop(`${name}/etcd`, cluster.pids.etcd, binaries?.etcd)),
      stop('nats-server', state.nats.pid, binaries?.natsServer),
      stop('redis-server', state.redis.pid, binaries?.redisServer),
      ...(state.nats.cluster ?? []).map((node) => stop(`nats-server ${node.name}`, node.pid, binaries?.natsServer)),
      ...(state.redis.sentinel ? [
        stop('redis-server (sentinel primary)', state.redis.sentinel.pids.primary, binaries?.redisServer),
        stop('redis-server (sentinel replica)', state.redis.sentinel.pids.replica, binaries?.redisServer),
        ...state.redis.sentinel.pids.sentinels.map((pid, index) => stop(`redis-sentinel ${index + 1}`, pid, binaries?.redisServer)),
      ] : []),
    ]);
    for (const { cluster } of clusters) cluster.pids = {};
    delete state.nats.pid;
    delete state.redis.pid;
    for (const node of state.nats.cluster ?? []) delete node.pid;
    if (state.redis.sentinel) state.redis.sentinel.pids = { sentinels: [] };
    delete state.nats.auth;
    delete state.redis.auth;
    writeState(dir, state);
  });
  if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
}

/** One row per process: running, healthy, endpoint and memory. */
export async function sandboxStatus(dir: string): Promise<ComponentStatus[] | undefined> {
  const state = readState(dir);
  if (!state?.binaries) return undefined;
  const binaries = state.binaries;
  const rows: Promise<ComponentStatus>[] = [];
  const row = (component: string, pid: number | undefined, binary: string, endpoint: string, healthy: () => Promise<boolean>) =>
    rows.push((async () => {
      const running = isRunning(pid, binary);
      return { component, pid, running, healthy: running && (await healthy()), endpoint, residentBytes: running ? residentBytes(pid) : 0 };
    })());
  for (const name of clustersOf(state)) {
    const cluster = clusterState(state, name);
    const probes = controlPlaneProbes(dir, name, cluster);
    row(`${name}/etcd`, cluster.pids.etcd, binaries.etcd, `http://127.0.0.1:${cluster.ports.etcdClient}`, probes.etcd);
    row(`${name}/kube-apiserver`, cluster.pids.apiserver, binaries.kubeApiserver, `https://127.0.0.1:${cluster.ports.apiserver}`, probes.apiserver);
    row(`${name}/kube-controller-manager`, cluster.pids.controllerManager, binaries.kubeControllerManager, `https://127.0.0.1:${cluster.ports.controllerManager}`, probes.controllerManager);
  }
  if (state.nats.cluster) {
    for (const node of state.nats.cluster) row(`nats-server ${node.name}`, node.pid, binaries.natsServer, `nats://127.0.0.1:${node.client}`, () => natsNodeHealthy(node));
  } else {
    row('nats-server', state.nats.pid, binaries.natsServer, `nats://127.0.0.1:${state.nats.client}`, () => httpOk(`http://127.0.0.1:${state.nats.monitor}/healthz?js-enabled-only=true`));
  }
  const redisPassword = state.redis.auth || state.redis.sentinel ? readCredentials(dir)?.redis.lifeboat : undefined;
  const sentinel = state.redis.sentinel;
  if (sentinel) {
    const primaryPort = await sentinelPrimaryPort(sentinel);
    for (const member of ['primary', 'replica'] as const) {
      const port = sentinel.ports[member];
      row(`redis-server ${port === primaryPort ? 'primary' : 'replica'}`, sentinel.pids[member], binaries.redisServer, `redis://127.0.0.1:${port}`, () => redisPing(port, redisPassword));
    }
    sentinel.ports.sentinels.forEach((port, index) => row(`redis-sentinel ${index + 1}`, sentinel.pids.sentinels[index], binaries.redisServer, `redis://127.0.0.1:${port}`, () => redisPing(port)));
  } else {
    row('redis-server', state.redis.pid, binaries.redisServer, `redis://127.0.0.1:${state.redis.port}`, () => redisPing(state.redis.port, redisPassword));
  }
  return Promise.all(rows);
}
