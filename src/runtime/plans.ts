// Plans as the runtime runs them: each plan with how to reach its two clusters (or why it cannot), from a plans
// snapshot (a directory, a git repository; next: custom resources).
import fs from 'node:fs';
import path from 'node:path';
import type { Kubeconfig } from '../kube/kubeconfig.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../kube/client.ts';
import { hasErrors, loadPlans, originKey, resolveKubeconfigPath, type PlanError } from '../plan/load.ts';
import type { ManagedCluster, RecoveryPlan } from '../plan/schema.ts';
import type { PlanSnapshot } from '../plan/source.ts';

export interface ClusterAccess {
  name: string;
  /** The kubeconfig file; with `kubeconfigData`, only where that came from (`Secret ns/name, key k`), for messages. */
  kubeconfig: string;
  context: string | undefined;
  /** The kubeconfig's content (from a ManagedCluster's secretRef), used instead of the file. Never logged. */
  kubeconfigData?: string;
  /** `inCluster: true`: the operator's own configuration (its ServiceAccount in a pod), used instead of either. */
  own?: Kubeconfig;
}

/** The credentials of a cluster access, from its file or its data (or the operator's own). */
export function kubeConfigOf(access: ClusterAccess): Kubeconfig {
  return access.own ?? loadKubeConfig({ path: access.kubeconfig, data: access.kubeconfigData, context: access.context });
}

export interface PlanContext {
  plan: RecoveryPlan;
  /** How to reach each cluster, or why the plan cannot run from here (it then fails alone). */
  source: ClusterAccess | { error: string };
  destination: ClusterAccess | { error: string };
}

/** A plan's cluster that did not answer its probe. */
export class ClusterUnreachableError extends Error {
  readonly cluster: string;
  readonly role: 'source' | 'destination';
  declare readonly access: ClusterAccess;
  readonly reason: string;
  constructor(access: ClusterAccess, role: 'source' | 'destination', reason: string) {
    super(`${role} cluster ${access.name} does not answer: ${reason}`);
    this.name = 'ClusterUnreachableError';
    this.cluster = access.name;
    this.role = role;
    // Not enumerable: a logged error never carries the access (a kubeconfig's content, with its credentials).
    Object.defineProperty(this, 'access', { value: access, enumerable: false });
    this.reason = reason;
  }
}

/** One GET /version, no retries, 5 s at most: does the cluster answer at all? */
export async function probeCluster(client: KubeClient, access: ClusterAccess, role: 'source' | 'destination'): Promise<void> {
  try {
    await client.request('GET', '/version', undefined, { retry: false, timeoutMs: 5000 });
  } catch (error) {
    // Rejected credentials (a wrong or expired token, a rotated Secret gone stale): nothing can work until they change.
    if (error instanceof KubeError && error.code === 401) throw new ClusterUnreachableError(access, role, `credentials rejected (401 Unauthorized): ${(error as Error).message}`);
    // Any other answer, even 403, means the cluster is there: the real requests then say what is wrong.
    if (error instanceof KubeError && error.code > 0 && error.code < 500) return;
    throw new ClusterUnreachableError(access, role, (error as Error).message);
  }
}

function clusterAccess(cluster: ManagedCluster, definedIn: string): ClusterAccess | { error: string } {
  if (!cluster.spec.kubeconfig) return { error: `ManagedCluster ${cluster.metadata.name} uses ${cluster.spec.secretRef ? 'a secretRef, which only the in-cluster operator can read' : 'inCluster, which only the operator has'}; give lifeboat run a kubeconfig path` };
  return { name: cluster.metadata.name, kubeconfig: resolveKubeconfigPath(definedIn, cluster.spec.kubeconfig.path), context: cluster.spec.kubeconfig.context };
}

export function access(cluster: ClusterAccess | { error: string }): ClusterAccess {
  if ('error' in cluster) throw new Error(cluster.error);
  return cluster;
}

/** Plans of a snapshot with their clusters resolved; any error makes the whole revision invalid. */
export function evaluatePlans(snapshot: PlanSnapshot, baseDir: string): { plans: Map<string, PlanContext>; errors: PlanError[] } {
  const files = snapshot.files.map((file) => ({ ...file, path: path.isAbsolute(file.path) ? file.path : path.join(baseDir, file.path) }));
  const set = loadPlans(files);
  const errors = set.errors.filter((error) => error.severity === 'error');
  const plans = new Map<string, PlanContext>();
  if (hasErrors(set)) return { plans, errors };
  for (const [name, plan] of set.plans) {
    const cluster = (clusterName: string) => {
      const definition = set.clusters.get(clusterName)!;
      return clusterAccess(definition, set.origins.get(originKey('ManagedCluster', clusterName))?.file ?? baseDir);
    };
    plans.set(name, { plan, source: cluster(plan.spec.source.cluster), destination: cluster(plan.spec.destination.cluster) });
  }
  return { plans, errors };
}

/** Reads age identities (AGE-SECRET-KEY-1… lines; # comments allowed) from files. */
export function readIdentities(files: string[]): string[] {
  return files.flatMap((file) => fs.readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('AGE-SECRET-KEY-')));
}
