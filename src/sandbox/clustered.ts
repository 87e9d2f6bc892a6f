// The clustered forms of the bus and the state store, on loopback: a NATS cluster (n nats-servers joined by
// routes, JetStream on each, one meta leader elected among them) and Redis with Sentinel (a primary, a replica and
// three sentinels that fail over to the replica when the primary stops answering). Used by `sandbox up
// --nats-cluster N` / `--redis-sentinel` and directly by the fault tests, which kill their members.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, isRunning, startDetached, stopProcess, waitFor } from './process.ts';
import { httpOk, redisPing } from './health.ts';
import type { NatsNode, RedisSentinelPorts, RedisSentinelSet } from './layout.ts';

export type { NatsNode, RedisSentinelPorts, RedisSentinelSet };

export interface NatsClusterOptions {
  binary: string;
  /** Each node keeps its JetStream store and log under `dir/<name>`. */
  dir: string;
  /** A configuration file given to every node (the sandbox's users and permissions). */
  config?: string;
  /** Leave out to start fresh nodes on free ports; give the same nodes again to restart the ones not running. */
  nodes?: NatsNode[];
  size?: number;
}

/** `n` nodes named lifeboat-1…n on free loopback ports (client, monitoring, route). */
export async function natsClusterNodes(size: number, taken = new Set<number>()): Promise<NatsNode[]> {
  const port = async () => {
    let picked = await freePort();
    while (taken.has(picked)) picked = await freePort();
    taken.add(picked);
    return picked;
  };
  const nodes: NatsNode[] = [];
  for (let index = 1; index <= size; index++) nodes.push({ name: `lifeboat-${index}`, client: await port(), monitor: await port(), route: await port() });
  return nodes;
}

/** The comma-separated client URL of the cluster, with a user and password when given. */
export function natsClusterUrl(nodes: NatsNode[], credentials?: { user: string; password: string }): string {
  const userinfo = credentials ? `${credentials.user}:${encodeURIComponent(credentials.password)}@` : '';
  return nodes.map((node) => `nats://${userinfo}127.0.0.1:${node.client}`).join(',');
}

function natsNodeLog(dir: string, node: NatsNode): string {
  return path.join(dir, node.name, 'nats-server.log');
}

/** Starts one node (recording its pid in `node`); the others need not be up: routes are retried. */
export function startNatsNode(options: Pick<NatsClusterOptions, 'binary' | 'dir' | 'config'>, nodes: NatsNode[], node: NatsNode): number {
  const home = path.join(options.dir, node.name);
  fs.mkdirSync(home, { recursive: true });
  const routes = nodes.filter((other) => other !== node).map((other) => `nats://127.0.0.1:${other.route}`).join(',');
  node.pid = startDetached(options.binary, [
    ...(options.config ? ['-c', options.config] : []),
    '-a', '127.0.0.1', '-p', String(node.client), '-m', String(node.monitor), '--server_name', node.name,
    '-js', '-sd', path.join(home, 'jetstream'),
    '--cluster_name', 'lifeboat', '--cluster', `nats://127.0.0.1:${node.route}`, '--routes', routes,
  ], natsNodeLog(options.dir, node)).pid;
  return node.pid;
}

/** A node answers with JetStream enabled and the cluster has a meta leader it knows of. */
export async function natsNodeHealthy(node: NatsNode): Promise<boolean> {
  return httpOk(`http://127.0.0.1:${node.monitor}/healthz?js-enabled-only=true`);
}

/**
 * Starts the nodes not running yet and waits until every node is healthy and the JetStream meta leader has every
 * other node as a current peer (streams with one replica per node can be placed from then on: a leader elected by
 * two of three before it heard from the third answers "no suitable peers for placement"). Returns the nodes, pids
 * recorded.
 */
export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsNode[]> {
  const nodes = options.nodes ?? (await natsClusterNodes(options.size ?? 3));
  for (const node of nodes) if (!isRunning(node.pid, options.binary)) startNatsNode(options, nodes, node);
  await waitFor(`the NATS cluster (${nodes.map((node) => node.name).join(', ')}) to form (a JetStream meta leader with every node a current peer)`, async () => {
    for (const node of nodes) if (!isRunning(node.pid, options.binary)) throw new Error(`${node.name} exited; see ${natsNodeLog(options.dir, node)}`);
    if (!(await Promise.all(nodes.map(natsNodeHealthy))).every(Boolean)) return false;
    return natsClusterFormed(nodes);
  }, 60_000, 200);
  return nodes;
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name: string; current?: boolean; offline?: boolean }[] };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

async function jsz(node: NatsNode, query = ''): Promise<Jsz | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${node.monitor}/jsz${query}`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? ((await response.json()) as Jsz) : undefined;
  } catch {
    return undefined;
  }
}

/** The node that is the JetStream meta leader, as the running nodes report it (undefined during an election). */
export async function natsMetaLeader(nodes: NatsNode[]): Promise<NatsNode | undefined> {
  for (const node of nodes) {
    const leader = (await jsz(node))?.meta_cluster?.leader;
    if (leader) return nodes.find((candidate) => candidate.name === leader);
  }
  return undefined;
}

/** The meta leader, as it reports itself, counts every node of `nodes` in the cluster and every other one current. */
export async function natsClusterFormed(nodes: NatsNode[]): Promise<boolean> {
  const views = await Promise.all(nodes.map(async (node) => ({ node, meta: (await jsz(node))?.meta_cluster })));
  const meta = views.find((view) => view.meta?.leader === view.node.name)?.meta;
  if (!meta || meta.cluster_size !== nodes.length) return false;
  const peers = meta.replicas ?? [];
  return peers.length === nodes.length - 1 && peers.every((peer) => peer.current && !peer.offline);
}

/** The node leading a stream's replicas (undefined when no running node reports one). */
export async function natsStreamLeader(nodes: NatsNode[], stream: string): Promise<NatsNode | undefined> {
  for (const node of nodes) {
    const answer = await jsz(node, '?streams=true&accounts=true');
    for (const account of answer?.account_details ?? []) {
      const leader = account.stream_detail?.find((detail) => detail.name === stream)?.cluster?.leader;
      if (leader) return nodes.find((candidate) => candidate.name === leader);
    }
  }
  return undefined;
}

export async function stopNatsCluster(nodes: NatsNode[], binary: string): Promise<void> {
  await Promise.all(nodes.map((node) => stopProcess(node.pid, binary, 10_000)));
}

export interface RedisSentinelOptions {
  binary: string;
  dir: string;
  /**
   * An ACL file for the primary and the replica (the sandbox's users). The replica and the sentinels authenticate
   * as `admin`, which must be able to replicate and to fail over (the function adds it to a copy of the file).
   */
  acl?: { file: string; admin: { user: string; password: string } };
  /** Leave out for free ports; give the same set again to restart the members not running. */
  set?: RedisSentinelSet;
  /** How long a primary may not answer before the sentinels agree it is down (default 1000 ms). */
  downAfterMs?: number;
}

export const sentinelMaster = 'lifeboat';

export async function redisSentinelPorts(taken = new Set<number>()): Promise<RedisSentinelPorts> {
  const port = async () => {
    let picked = await freePort();
    while (taken.has(picked)) picked = await freePort();
    taken.add(picked);
    return picked;
  };
  return { primary: await port(), replica: await port(), sentinels: [await port(), await port(), await port()] };
}

/** The redis+sentinel:// URL of the set (see src/state/redis-url.ts), as `credentials` when given. */
export function redisSentinelUrl(set: RedisSentinelSet, credentials?: { user: string; password: string }): string {
  const userinfo = credentials ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@` : '';
  return `redis+sentinel://${userinfo}${set.ports.sentinels.map((port) => `127.0.0.1:${port}`).join(',')}/${set.master}`;
}

/**
 * Starts the members not running: the primary, the replica (replicating from the primary, or from whichever member
 * the sentinels made primary meanwhile) and three sentinels (quorum 2). A member restarted after a failover comes
 * back as a replica: the sentinels reconfigure it. Waits until the sentinels see the primary and its replica.
 */
export async function startRedisSentinel(options: RedisSentinelOptions): Promise<RedisSentinelSet> {
  const set = options.set ?? { master: sentinelMaster, ports: await redisSentinelPorts(), pids: { sentinels: [] } };
  const home = path.join(options.dir, 'redis-sentinel');
  fs.mkdirSync(home, { recursive: true });
  const admin = options.acl?.admin;
  let aclFile: string | undefined;
  if (options.acl) {
    aclFile = path.join(home, 'users.acl');
    fs.writeFileSync(aclFile, `${fs.readFileSync(options.acl.file, 'utf8').trimEnd()}\nuser ${admin!.user} on >${admin!.password} ~* &* +@all\n`, { mode: 0o600 });
  }
  const downAfter = options.downAfterMs ?? 1000;
  // Whoever the sentinels think is primary now (after a failover, the former replica); the primary port at first.
  const currentPrimary = (await sentinelPrimaryPort(set)) ?? set.ports.primary;
  const dataMember = (role: 'primary' | 'replica') => {
    const port = set.ports[role];
    const config = path.join(home, `${role}.conf`);
    fs.writeFileSync(config, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${home}`, `dbfilename ${role}.rdb`, `appendfilename ${role}.aof`, `appenddirname ${role}-aof`,
      'appendonly yes', 'appendfsync everysec', 'save ""', 'daemonize no', 'logfile ""',
      ...(aclFile ? [`aclfile ${aclFile}`, `masteruser ${admin!.user}`, `masterauth ${admin!.password}`] : []),
      ...(port !== currentPrimary ? [`replicaof 127.0.0.1 ${currentPrimary}`] : []),
      '',
    ].join('\n'), { mode: 0o600 });
    set.pids[role] = startDetached(options.binary, [config], path.join(home, `${role}.log`)).pid;
  };
  if (!isRunning(set.pids.primary, options.binary)) dataMember('primary');
  if (!isRunning(set.pids.replica, options.binary)) dataMember('replica');
  set.ports.sentinels.forEach((port, index) => {
    if (isRunning(set.pids.sentinels[index], options.binary)) return;
    const config = path.join(home, `sentinel-${index + 1}.conf`);
    // A sentinel rewrites its file with what it learned (replicas, epochs): written only the first time.
    if (!fs.existsSync(config)) {
      fs.writeFileSync(config, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${home}`, 'daemonize no', 'logfile ""',
        `sentinel monitor ${set.master} 127.0.0.1 ${currentPrimary} 2`,
        `sentinel down-after-milliseconds ${set.master} ${downAfter}`,
        `sentinel failover-timeout ${set.master} ${Math.max(downAfter * 3, 3000)}`,
        `sentinel parallel-syncs ${set.master} 1`,
        ...(admin ? [`sentinel auth-user ${set.master} ${admin.user}`, `sentinel auth-pass ${set.master} ${admin.password}`] : []),
        '',
      ].join('\n'), { mode: 0o600 });
    }
    set.pids.sentinels[index] = startDetached(options.binary, [config, '--sentinel'], path.join(home, `sentinel-${index + 1}.log`)).pid;
  });
  await waitFor('Redis Sentinel to see the primary and a replica in step', async () => {
    const primary = await sentinelPrimaryPort(set);
    if (primary === undefined) return false;
    const replicas = await sentinelCommand(set.ports.sentinels[0], ['SENTINEL', 'REPLICAS', set.master]);
    return /flags\r\n\$5\r\nslave\r\n/.test(replicas ?? '') && (await redisPing(primary, admin?.password, admin?.user));
  }, 60_000, 200);
  return set;
}

/** The port of the primary as the first sentinel that answers reports it. */
export async function sentinelPrimaryPort(set: RedisSentinelSet): Promise<number | undefined> {
  for (const port of set.ports.sentinels) {
    const answer = await sentinelCommand(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', set.master]);
    const match = /^\*2\r\n\$\d+\r\n[^\r]+\r\n\$\d+\r\n(\d+)\r\n/.exec(answer ?? '');
    if (match) return Number(match[1]);
  }
  return undefined;
}

/** Which member is the primary now ('primary' or 'replica', by the port it was started on). */
export async function redisPrimaryRole(set: RedisSentinelSet): Promise<'primary' | 'replica' | undefined> {
  const port = await sentinelPrimaryPort(set);
  return port === set.ports.primary ? 'primary' : port === set.ports.replica ? 'replica' : undefined;
}

export async function stopRedisSentinel(set: RedisSentinelSet, binary: string): Promise<void> {
  await Promise.all([set.pids.primary, set.pids.replica, ...set.pids.sentinels].map((pid) => stopProcess(pid, binary, 10_000)));
}

/** One command on a sentinel, the raw RESP answer (undefined when it does not answer within a second). */
async function sentinelCommand(port: number, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (value: string | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      // Enough for the answers read here: an array whose last line has arrived.
      if (answer.endsWith('\r\n')) done(answer);
    });
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`));
  });
}
