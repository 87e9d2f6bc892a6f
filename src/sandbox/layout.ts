// The sandbox's clusters, where each keeps its files, and the state file's shape (ports, pids, fingerprints).
import path from 'node:path';
import type { Binaries } from './binaries.ts';

export const clusterNames = ['source', 'destination'] as const;
export type ClusterName = (typeof clusterNames)[number];

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
  clusters: Record<ClusterName, ClusterState>;
  /** `auth`: the fingerprint of the users and permissions the running server was started with (none: no authentication). */
  nats: { client: number; monitor: number; pid?: number; auth?: string };
  redis: { port: number; pid?: number; auth?: string };
  binaries?: Binaries;
}
