// The sandbox's clusters, where each keeps its files, and the state file's shape (ports, pids, fingerprints).
// Every sandbox has a source and a destination; a management cluster (the 3-cluster topology: it runs Lifeboat's
// operator, which syncs source → destination) only when one was asked for (`sandbox up --management`).
import path from 'node:path';
import type { Binaries } from './binaries.ts';

/** Every cluster a sandbox may have, in the order they are started, listed and stopped. */
export const clusterNames = ['source', 'destination', 'management'] as const;
export type ClusterName = (typeof clusterNames)[number];
/** The clusters only a sandbox that asked for them has. */
export type OptionalClusterName = 'management';

export function clusterDir(dir: string, name: ClusterName): string {
  return path.join(dir, name);
}

export interface ClusterState {
  serviceCidr: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number };
  pids: { etcd?: number; apiserver?: number; controllerManager?: number };
}

export interface SandboxState {
  version: 1;
  /** Once a cluster is here, every later `up` keeps it (and starts it again when it is stopped). */
  clusters: Record<Exclude<ClusterName, OptionalClusterName>, ClusterState> & Partial<Record<OptionalClusterName, ClusterState>>;
  /** `auth`: the fingerprint of the users and permissions the running server was started with (none: no authentication). */
  /** `cluster`: `up --nats-cluster N` — N nodes in its place (the single server is not started then). */
  nats: { client: number; monitor: number; pid?: number; auth?: string; cluster?: NatsNode[] };
  /** `sentinel`: `up --redis-sentinel` — a primary, a replica and three sentinels in its place. */
  redis: { port: number; pid?: number; auth?: string; sentinel?: RedisSentinelSet };
  binaries?: Binaries;
}

/** The clusters this sandbox has, in `clusterNames` order. */
export function clustersOf(state: SandboxState): ClusterName[] {
  return clusterNames.filter((name) => state.clusters[name] !== undefined);
}

/** The state of one of the sandbox's clusters (a cluster it does not have is a bug of the caller). */
export function clusterState(state: SandboxState, name: ClusterName): ClusterState {
  const cluster = state.clusters[name];
  if (!cluster) throw new Error(`the sandbox has no ${name} cluster`);
  return cluster;
}

/**
 * The least-privilege identity of the clusters that have one, besides their admin (`lifeboat-admin`, system:masters):
 * `name` is its context, its kubeconfig user and its certificate's file. The management cluster has only its admin.
 */
export const leastPrivilegeUsers: Partial<Record<ClusterName, { name: string; user: string }>> = {
  source: { name: 'source-reader', user: 'lifeboat-source-reader' },
  destination: { name: 'destination-writer', user: 'lifeboat-destination-writer' },
};

/** One nats-server of the sandbox's JetStream cluster (src/sandbox/clustered.ts starts them). */
export interface NatsNode {
  name: string;
  client: number;
  monitor: number;
  route: number;
  pid?: number;
}

export interface RedisSentinelPorts {
  primary: number;
  replica: number;
  sentinels: [number, number, number];
}

export interface RedisSentinelSet {
  /** The name the sentinels know the primary by. */
  master: string;
  ports: RedisSentinelPorts;
  pids: { primary?: number; replica?: number; sentinels: (number | undefined)[] };
}
