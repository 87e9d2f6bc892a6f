// RecoveryPlan and ManagedCluster custom resources as the operator reads them: each plan validated with the same
// checks as `plan validate` (loadPlans over every plan and cluster of the namespace, so references, selectors,
// pointers, mirror paths and overlaps all apply) and judged on its own: one plan's error never stops another. A
// secretRef cluster's kubeconfig comes from the namespace's Secrets as given. Pure.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Kubeconfig } from '../kube/kubeconfig.ts';
import { type KubeObject, nameOf, generationOf } from '../kube/ref.ts';
import { loadPlans, resolveKubeconfigPath, Severity, type PlanError } from '../plan/load.ts';
import type { ManagedCluster } from '../plan/schema.ts';
import type { ClusterAccess, PlanContext } from '../runtime/plans.ts';
import { escapeForYamlReaders, stringifyJson } from '../util/json.ts';

/** What the operator does with one RecoveryPlan resource. */
export type PlanVerdict =
  /** Run it; `key` changes exactly when the runner must be replaced (its spec or a cluster's access changed). */
  | { type: 'run'; context: PlanContext; key: string }
  /** Its spec (or a cluster it names) has errors, each `field.path: message`. */
  | { type: 'invalid'; errors: string[] }
  /** Valid, but a cluster it names cannot be reached by this operator (yet): the message says which and why. */
  | { type: 'blocked'; message: string };

export interface PlanJudgement {
  generation: number;
  verdict: PlanVerdict;
}


/**
 * The file name loadPlans sees for a resource. Files are taken in path order, and the first definition wins a
 * conflict (an overlap, a shared mirror path): creation time first, so a new plan never invalidates a running one.
 */
function fileOf(object: KubeObject): string {
  const created = (object.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
  return `${object.kind}/${created}/${object.metadata.name}`;
}

/** The document as a plan file has it: the resource's spec and the metadata a plan may carry; no status. */
function documentOf(object: KubeObject): string {
  const { name, namespace, labels, annotations } = object.metadata as KubeObject['metadata'] & { annotations?: Record<string, string> };
  const document = {
    apiVersion: object.apiVersion, kind: object.kind,
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec: (object as { spec?: unknown }).spec,
  };
  // JSON is YAML; the parser's positions are not shown (the resource has no file), its field paths are.
  return escapeForYamlReaders(stringifyJson(document));
}

const described = (error: PlanError) => (error.path ? `${error.path}: ${error.message}` : error.message);

/** Where the operator finds things: its namespace's Secrets (by name), and the base of relative kubeconfig paths. */
export interface Surroundings {
  namespace: string;
  secrets: ReadonlyMap<string, KubeObject>;
  /** Relative kubeconfig paths are relative to it (the working directory). */
  baseDir: string;
  /** The operator's own configuration, for `inCluster: true`; described as `where` in messages. */
  own?: { kubeConfig: Kubeconfig; where: string };
}

/**
 * Access to a cluster from this process: a kubeconfig file, or the content of a Secret of the operator's namespace
 * (`kubeconfigData`). Errors name the Secret and the key, never any of the content.
 */
export function clusterAccess(cluster: ManagedCluster, { namespace, secrets, baseDir, own }: Surroundings): ClusterAccess | { error: string } {
  const name = cluster.metadata.name;
  if (cluster.spec.inCluster) {
    if (!own) return { error: `ManagedCluster ${name}: spec.inCluster needs the operator's own configuration, which this process was not given` };
    return { name, kubeconfig: `the operator's own identity (${own.where})`, context: undefined, own: own.kubeConfig };
  }
  if (cluster.spec.kubeconfig) return { name, kubeconfig: resolveKubeconfigPath(path.join(baseDir, 'ManagedCluster'), cluster.spec.kubeconfig.path), context: cluster.spec.kubeconfig.context };
  const ref = cluster.spec.secretRef!;
  const key = ref.key ?? 'kubeconfig';
  if (ref.namespace && ref.namespace !== namespace) return { error: `ManagedCluster ${name}: spec.secretRef names Secret ${ref.name} in namespace ${ref.namespace}; the operator reads Secrets of its own namespace (${namespace}) only: put the Secret there` };
  const secret = secrets.get(ref.name) as (KubeObject & { data?: Record<string, string> }) | undefined;
  if (!secret) return { error: `ManagedCluster ${name}: Secret ${ref.name} (spec.secretRef.name) not found in namespace ${namespace}; create it with the kubeconfig under key ${key}` };
  const encoded = secret.data?.[key];
  if (encoded === undefined) return { error: `ManagedCluster ${name}: Secret ${ref.name} in namespace ${namespace} has no key ${key} (spec.secretRef.key; its keys: ${Object.keys(secret.data ?? {}).join(', ') || 'none'})` };
  return { name, kubeconfig: `Secret ${namespace}/${ref.name}, key ${key}`, context: undefined, kubeconfigData: Buffer.from(encoded, 'base64').toString('utf8') };
}

/** What identifies an access in a restart key: a hash in place of a kubeconfig's content (rotation restarts). */
function accessKey(access: ClusterAccess): Omit<ClusterAccess, 'kubeconfigData' | 'own'> & { kubeconfigSha256?: string } {
  const { kubeconfigData, own: _own, ...rest } = access;
  return kubeconfigData === undefined ? rest : { ...rest, kubeconfigSha256: createHash('sha256').update(kubeconfigData).digest('hex') };
}

/** Every RecoveryPlan resource judged, by name. */
export function judgePlans(plans: Iterable<KubeObject>, clusters: Iterable<KubeObject>, surroundings: Surroundings, { needsSource = true } = {}): Map<string, PlanJudgement> {
  const planObjects = [...plans];
  const clusterObjects = [...clusters];
  const files = [...clusterObjects, ...planObjects].map((object) => ({ path: fileOf(object), text: documentOf(object) }));
  const set = loadPlans(files);
  const errorsIn = (file: string) => set.errors.filter((error) => error.severity === Severity.error && error.file === file).map(described);
  const judged = new Map<string, PlanJudgement>();
  /** The errors of the clusters a plan names (a plan is left out, or kept, when one of its clusters is invalid). */
  const clusterErrors = (names: Set<unknown>) => clusterObjects.filter((cluster) => names.has(nameOf(cluster)))
    .flatMap((cluster) => errorsIn(fileOf(cluster)).map((error) => `ManagedCluster ${nameOf(cluster)}: ${error}`));
  for (const object of planObjects) {
    const name = nameOf(object);
    const generation = generationOf(object);
    const plan = set.plans.get(name);
    const spec = (object as { spec?: Record<string, { cluster?: unknown } | undefined> }).spec;
    const named = new Set([spec?.source?.cluster, spec?.destination?.cluster]);
    const sourceCluster = plan && set.clusters.get(plan.spec.source.cluster);
    const destinationCluster = plan && set.clusters.get(plan.spec.destination.cluster);
    if (!plan || !sourceCluster || !destinationCluster) {
      const own = errorsIn(fileOf(object));
      const inherited = clusterErrors(named);
      const errors = own.length ? own : inherited.length ? inherited : ['the plan is invalid'];
      judged.set(name, { generation, verdict: { type: 'invalid', errors } });
      continue;
    }
    const source = clusterAccess(sourceCluster, surroundings);
    const destination = clusterAccess(destinationCluster, surroundings);
    if ((needsSource && 'error' in source) || 'error' in destination) {
      judged.set(name, { generation, verdict: { type: 'blocked', message: needsSource && 'error' in source ? source.error : (destination as { error: string }).error } });
      continue;
    }
    const key = stringifyJson({ spec: plan.spec, source: 'error' in source ? source : accessKey(source), destination: accessKey(destination as ClusterAccess) });
    judged.set(name, { generation, verdict: { type: 'run', context: { plan, source, destination }, key } });
  }
  return judged;
}
