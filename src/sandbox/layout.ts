// The sandbox's clusters and where each keeps its files.
import path from 'node:path';

export const clusterNames = ['source', 'destination'] as const;
export type ClusterName = (typeof clusterNames)[number];

export function clusterDir(dir: string, name: ClusterName): string {
  return path.join(dir, name);
}
