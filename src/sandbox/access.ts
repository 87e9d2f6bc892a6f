// Who may do what in the sandbox: one kubeconfig with the admin context of each cluster and the least-privilege
// contexts of the source and destination, and the RBAC of the least-privilege identities (the source reader, the
// destination writer).
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { apply, orThrow } from '../kube/apply.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import type { KubeObject } from '../kube/ref.ts';
import { writeFileAtomic } from '../util/file.ts';
import { clusterDir, clustersOf, clusterState, leastPrivilegeUsers, type ClusterName, type SandboxState } from './layout.ts';

function kubeconfigUser(certs: string, file: string) {
  return {
    'client-certificate-data': fs.readFileSync(path.join(certs, `${file}.crt`)).toString('base64'),
    'client-key-data': fs.readFileSync(path.join(certs, `${file}.key`)).toString('base64'),
  };
}

/**
 * One kubeconfig with a context per cluster (source, destination, management when the sandbox has it: their admins)
 * and one per least-privilege identity (source-reader, destination-writer).
 */
export function writeKubeconfigs(dir: string, state: SandboxState): void {
  const names = clustersOf(state);
  const clusters = names.map((name) => ({
    name,
    cluster: {
      server: `https://127.0.0.1:${clusterState(state, name).ports.apiserver}`,
      'certificate-authority-data': fs.readFileSync(path.join(clusterDir(dir, name), 'certs', 'serving-ca.crt')).toString('base64'),
    },
  }));
  const certs = (name: ClusterName) => path.join(clusterDir(dir, name), 'certs');
  const leastPrivileged = names.flatMap((name) => {
    const identity = leastPrivilegeUsers[name];
    return identity ? [{ cluster: name, name: identity.name }] : [];
  });
  const kubeUsers = [
    ...names.map((name) => ({ name: `${name}-admin`, user: kubeconfigUser(certs(name), 'admin') })),
    ...leastPrivileged.map(({ cluster, name }) => ({ name, user: kubeconfigUser(certs(cluster), name) })),
  ];
  const contexts = [
    ...names.map((name) => ({ name, context: { cluster: name, user: `${name}-admin` } })),
    ...leastPrivileged.map(({ cluster, name }) => ({ name, context: { cluster, user: name } })),
  ];
  const kubeconfig = { apiVersion: 'v1', kind: 'Config', clusters, users: kubeUsers, contexts, 'current-context': 'source', preferences: {} };
  writeFileAtomic(path.join(dir, 'kubeconfig'), stringify(kubeconfig, { lineWidth: 0 }), 0o600);
  // Per-cluster admin kubeconfig for kube-controller-manager.
  for (const name of names) {
    const single = { ...kubeconfig, clusters: clusters.filter((c) => c.name === name), users: kubeUsers.filter((u) => u.name === `${name}-admin`),
      contexts: contexts.filter((c) => c.name === name), 'current-context': name };
    writeFileAtomic(path.join(clusterDir(dir, name), 'admin.kubeconfig'), stringify(single, { lineWidth: 0 }), 0o600);
  }
}

/**
 * RBAC for the least-privilege identities. The reader may get, list and watch everything in the source, nothing else.
 * The management cluster has none (only its admin).
 */
function rbacObjects(name: ClusterName): object[] {
  const binding = (role: string, user: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: role },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  });
  if (name === 'source') {
    return [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'lifeboat-source-reader' },
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] }] },
      binding('lifeboat-source-reader', 'lifeboat-source-reader'),
    ];
  }
  if (name === 'management') return [];
  // The writer replicates RBAC too, which needs `bind` and `escalate` on roles; it never impersonates.
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'lifeboat-destination-writer' },
      rules: [
        { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles', 'roles'], verbs: ['bind', 'escalate'] },
      ] },
    binding('lifeboat-destination-writer', 'lifeboat-destination-writer'),
  ];
}

export async function applyRbac(dir: string, name: ClusterName): Promise<void> {
  const objects = rbacObjects(name) as KubeObject[];
  if (objects.length === 0) return;
  const client = await KubeClient.create(loadKubeConfig({ path: path.join(dir, 'kubeconfig'), context: name }));
  try {
    for (const object of objects) {
      const plural = object.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      orThrow(await apply(client, `/apis/rbac.authorization.k8s.io/v1/${plural}/${object.metadata.name}`, object, { fieldManager: 'lifeboat-sandbox' }));
    }
  } finally {
    client.close();
  }
}
