// Connecting a cluster to the operator, as `lifeboat cluster add` does: the access objects of manifests/source or
// manifests/destination (read at run time, as `kubectl apply -k` would apply them), a kubeconfig for the token of
// their ServiceAccount, the Secret holding it and the ManagedCluster naming that Secret; and the rows of
// `lifeboat cluster list`. Everything here is pure but `accessObjects`, which reads the manifest files.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeObject } from '../kube/ref.ts';
import { apiVersion, Kind } from '../plan/schema.ts';

export const ClusterRole = { source: 'source', destination: 'destination' } as const;
export type ClusterRole = (typeof ClusterRole)[keyof typeof ClusterRole];

/** Who wrote the operator-side objects, as field manager and as the value of app.kubernetes.io/managed-by. */
export const clusterAddManager = 'lifeboat-cluster-add';
export const managedByLabel = 'app.kubernetes.io/managed-by';
/** The role given at `cluster add`, on the ManagedCluster, for `cluster list`. */
export const roleLabel = 'lifeboat.dev/cluster-role';
/** Every object of manifests/source and manifests/destination carries it: `cluster remove` deletes only those. */
export const partOfLabel = 'app.kubernetes.io/part-of';

/** The directory of manifests this module reads: the repository's (or the image's) manifests/. */
export const manifestsDir = new URL('../../manifests/', import.meta.url).pathname;

/** The kustomizations a role applies, in order: a source's --secrets adds manifests/source/secrets to manifests/source. */
export function accessKustomizations(role: ClusterRole, secrets: boolean, dir = manifestsDir): string[] {
  if (role === ClusterRole.destination) return [path.join(dir, 'destination')];
  return [path.join(dir, 'source'), ...(secrets ? [path.join(dir, 'source', 'secrets')] : [])];
}

/** The objects of a role's kustomizations, as `kubectl apply -k` of each would apply them. */
export function roleAccessObjects(role: ClusterRole, secrets: boolean, dir = manifestsDir): KubeObject[] {
  return accessKustomizations(role, secrets, dir).flatMap((kustomization) => accessObjects(kustomization));
}

/**
 * The objects a kustomization of plain resources renders to, in its order: files and directories (other
 * kustomizations, `..` included) listed under `resources`. Anything else kustomize does (patches, generators, a
 * namespace) is refused rather than ignored, so that what cluster add applies is what `kubectl apply -k` would.
 */
export function accessObjects(kustomizationDir: string): KubeObject[] {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((name) => path.join(kustomizationDir, name)).find((candidate) => fs.existsSync(candidate));
  if (!file) throw new Error(`${kustomizationDir}: no kustomization.yaml`);
  const [document] = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const kustomization = (document?.toJS() ?? {}) as Record<string, unknown>;
  const unsupported = Object.keys(kustomization).filter((key) => !['apiVersion', 'kind', 'resources'].includes(key));
  if (unsupported.length) throw new Error(`${file}: lifeboat cluster add applies plain resources only; ${unsupported.join(', ')} is not supported`);
  const objects: KubeObject[] = [];
  for (const entry of (kustomization.resources ?? []) as string[]) {
    const target = path.resolve(kustomizationDir, entry);
    if (fs.statSync(target).isDirectory()) objects.push(...accessObjects(target));
    else for (const doc of parseAllDocuments(fs.readFileSync(target, 'utf8'))) if (doc.contents) objects.push(doc.toJS() as KubeObject);
  }
  return objects;
}

/** Every object that cluster add may have applied for a role, --secrets or not: what `cluster remove` deletes. */
export function allAccessObjects(role: ClusterRole, dir = manifestsDir): KubeObject[] {
  return roleAccessObjects(role, role === ClusterRole.source, dir);
}

/** The REST path of an access object: the kinds manifests/source and manifests/destination use. */
export function accessObjectPath(object: KubeObject): string {
  const { name, namespace } = object.metadata as { name?: string; namespace?: string };
  const paths: Record<string, string> = {
    'v1/ServiceAccount': `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`,
    'v1/Secret': `/api/v1/namespaces/${namespace}/secrets/${name}`,
    'rbac.authorization.k8s.io/v1/ClusterRole': `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`,
    'rbac.authorization.k8s.io/v1/ClusterRoleBinding': `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`,
  };
  const found = paths[`${object.apiVersion}/${object.kind}`];
  if (!found || !name || (object.kind === 'ServiceAccount' || object.kind === 'Secret') !== Boolean(namespace)) {
    throw new Error(`${object.apiVersion} ${object.kind} ${name ?? '(no name)'}: cluster add applies ServiceAccounts, token Secrets, ClusterRoles and ClusterRoleBindings only`);
  }
  return found;
}

/** `ServiceAccount kube-system/lifeboat-reader`, `ClusterRole lifeboat-reader`. */
export function describeObject(object: KubeObject): string {
  const { name, namespace } = object.metadata as { name?: string; namespace?: string };
  return `${object.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

/** The ServiceAccount token Secret among the access objects: the one whose token the kubeconfig carries. */
export function tokenSecretOf(objects: readonly KubeObject[]): KubeObject {
  const secrets = objects.filter((object) => object.kind === 'Secret' && (object as { type?: string }).type === 'kubernetes.io/service-account-token');
  if (secrets.length !== 1) throw new Error(`the access manifests hold ${secrets.length} token Secrets (type kubernetes.io/service-account-token); one is needed`);
  return secrets[0]!;
}

export interface TokenKubeconfigInput {
  /** The ManagedCluster's name: the kubeconfig's cluster, context and user are named after it. */
  name: string;
  server: string;
  /** The API server's CA bundle, PEM, base64-encoded (certificate-authority-data); absent: the system's roots. */
  caData?: string;
  insecureSkipTlsVerify?: boolean;
  token: string;
}

/** A kubeconfig of one context that authenticates with a bearer token: what the operator reads from the Secret. */
export function tokenKubeconfig(input: TokenKubeconfigInput): string {
  const cluster: Record<string, unknown> = { server: input.server };
  if (input.caData) cluster['certificate-authority-data'] = input.caData;
  if (input.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
  return stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: input.name, cluster }],
    users: [{ name: input.name, user: { token: input.token } }],
    contexts: [{ name: input.name, context: { cluster: input.name, user: input.name } }],
    'current-context': input.name,
  }, { lineWidth: 0 });
}

/** The Secret of the operator's namespace holding a cluster's kubeconfig. */
export const clusterSecretName = (cluster: string) => `lifeboat-cluster-${cluster}`;

const operatorLabels = (cluster: string) => ({ [managedByLabel]: clusterAddManager, 'lifeboat.dev/cluster': cluster });

export function clusterSecret(cluster: string, namespace: string, kubeconfig: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name: clusterSecretName(cluster), namespace, labels: operatorLabels(cluster) },
    data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
  } as KubeObject;
}

export function managedCluster(cluster: string, namespace: string, role: ClusterRole): KubeObject {
  return {
    apiVersion, kind: Kind.managedCluster,
    metadata: { name: cluster, namespace, labels: { ...operatorLabels(cluster), [roleLabel]: role } },
    spec: { secretRef: { name: clusterSecretName(cluster), key: 'kubeconfig' } },
  } as KubeObject;
}

/** The plans (RecoveryPlan resources) that name a cluster, each with the role they give it. */
export function plansNaming(cluster: string, plans: readonly KubeObject[]): { plan: string; roles: ClusterRole[] }[] {
  return plans.flatMap((plan) => {
    const spec = (plan as { spec?: { source?: { cluster?: string }; destination?: { cluster?: string } } }).spec;
    const roles: ClusterRole[] = [];
    if (spec?.source?.cluster === cluster) roles.push(ClusterRole.source);
    if (spec?.destination?.cluster === cluster) roles.push(ClusterRole.destination);
    return roles.length ? [{ plan: plan.metadata.name ?? '', roles }] : [];
  });
}

export interface ClusterRow {
  name: string;
  role: string;
  ready: string;
  reason: string;
  message: string;
}

/** How long MESSAGE may be in `cluster list` (the whole one: kubectl describe managedcluster NAME). */
export const listMessageLength = 80;

/** A message on one line, cut at listMessageLength with an ellipsis. */
export function shortenedMessage(message: string, max = listMessageLength): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1).trimEnd()}…`;
}

/** One row of `cluster list`: the role from the label cluster add set, else from the plans naming it; Ready as the operator wrote it. */
export function clusterRow(cluster: KubeObject, plans: readonly KubeObject[]): ClusterRow {
  const name = cluster.metadata.name ?? '';
  const labelled = (cluster.metadata as { labels?: Record<string, string> }).labels?.[roleLabel];
  const fromPlans = [...new Set(plansNaming(name, plans).flatMap((entry) => entry.roles))].sort().reverse();
  const role = labelled ?? (fromPlans.length ? fromPlans.join('+') : '-');
  const conditions = (cluster as { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }).status?.conditions ?? [];
  const ready = conditions.find((condition) => condition.type === 'Ready');
  if (!ready) return { name, role, ready: 'Unknown', reason: '-', message: 'not checked yet (is lifeboat operator running in this namespace?)' };
  return { name, role, ready: ready.status, reason: ready.reason ?? '-', message: shortenedMessage(ready.message ?? '') };
}

/** Rows sorted by name. */
export function clusterRows(clusters: readonly KubeObject[], plans: readonly KubeObject[]): ClusterRow[] {
  return clusters.map((cluster) => clusterRow(cluster, plans)).sort((a, b) => a.name.localeCompare(b.name));
}
