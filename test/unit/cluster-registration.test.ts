// What `lifeboat cluster add` builds and `cluster list` shows, without a cluster: the kubeconfig for a token (read
// back as the operator reads it), the access objects of manifests/source and manifests/destination (no Secrets for a
// plain source, and the preflight's representative kinds covered), the Secret and ManagedCluster, and the list rows.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadKubeConfig } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/ref.ts';
import {
  accessKustomizations, accessObjectPath, accessObjects, allAccessObjects, clusterRow, clusterRows, clusterSecret, describeObject,
  listMessageLength, managedCluster, plansNaming, roleAccessObjects, roleLabel, shortenedMessage, tokenKubeconfig, tokenSecretOf,
} from '../../src/cluster/registration.ts';
import { representativeKinds, resourceOfKind } from '../../src/operator/clusters.ts';
import { ManagedClusterSchema } from '../../src/plan/schema.ts';

const caData = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

test('tokenKubeconfig: one context named after the cluster, the server, CA and token as the operator loads them', (t) => {
  const text = tokenKubeconfig({ name: 'prod-src', server: 'https://10.0.0.1:6443', caData, token: 'abc.def' });
  const kubeConfig = loadKubeConfig({ data: text });
  t.is(kubeConfig.getCurrentContext(), 'prod-src');
  t.like(kubeConfig.getCurrentCluster(), { name: 'prod-src', server: 'https://10.0.0.1:6443', caData });
  t.is(kubeConfig.getCurrentUser()?.token, 'abc.def');
  t.falsy(kubeConfig.getCurrentCluster()?.skipTLSVerify);
});

test('tokenKubeconfig: no CA leaves the system roots; insecure-skip-tls-verify is carried over', (t) => {
  const kubeConfig = loadKubeConfig({ data: tokenKubeconfig({ name: 'c', server: 'https://api.example.com', insecureSkipTlsVerify: true, token: 't' }) });
  t.is(kubeConfig.getCurrentCluster()?.caData, undefined);
  t.true(kubeConfig.getCurrentCluster()?.skipTLSVerify);
});

const rulesOf = (objects: KubeObject[]) => objects.filter((object) => object.kind === 'ClusterRole')
  .flatMap((object) => (object as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules);
const allows = (objects: KubeObject[], group: string, resource: string, verb: string) =>
  rulesOf(objects).some((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb));

test('manifests/source: a ServiceAccount, a read-only ClusterRole without Secrets or wildcards, its binding, a token Secret', (t) => {
  const objects = roleAccessObjects('source', false);
  t.deepEqual(objects.map(describeObject), ['ServiceAccount kube-system/lifeboat-reader', 'ClusterRole lifeboat-reader', 'ClusterRoleBinding lifeboat-reader', 'Secret kube-system/lifeboat-reader-token']);
  const rules = rulesOf(objects);
  for (const rule of rules) {
    t.deepEqual(rule.verbs, ['get', 'list', 'watch'], 'read only');
    t.false(rule.apiGroups.includes('*') || rule.resources.includes('*'), 'no wildcard');
  }
  t.false(allows(objects, '', 'secrets', 'get'), 'no Secrets');
  // Every kind the preflight checks for a plan of every kind, Secrets aside, is readable.
  for (const kind of representativeKinds.filter((entry) => entry.kind !== 'Secret')) {
    for (const verb of ['get', 'list', 'watch']) t.true(allows(objects, kind.group, resourceOfKind(kind.kind), verb), `${verb} ${kind.group}/${kind.kind}`);
  }
  t.true(allows(objects, '', 'namespaces', 'list'));
  for (const object of objects) t.is((object.metadata as { labels?: Record<string, string> }).labels?.['app.kubernetes.io/part-of'], 'lifeboat', describeObject(object));
  t.like(tokenSecretOf(objects), { metadata: { name: 'lifeboat-reader-token', annotations: { 'kubernetes.io/service-account.name': 'lifeboat-reader' } } });
});

test('--secrets: manifests/source/secrets adds a ClusterRole and binding that read Secrets', (t) => {
  t.deepEqual(accessKustomizations('source', true).map((dir) => dir.split('/manifests/')[1]), ['source', 'source/secrets']);
  t.deepEqual(accessObjects(accessKustomizations('source', true)[1]!).map(describeObject), ['ClusterRole lifeboat-reader-secrets', 'ClusterRoleBinding lifeboat-reader-secrets']);
  const objects = roleAccessObjects('source', true);
  t.is(objects.length, 6);
  t.true(allows(objects, '', 'secrets', 'list'));
  t.false(allows(objects, '', 'secrets', 'create'));
  t.deepEqual(allAccessObjects('source').map(describeObject), objects.map(describeObject), 'remove deletes both');
});

test('manifests/destination: the synchronizer\'s writes on every representative kind, Secrets and bind/escalate included, no wildcard', (t) => {
  const objects = roleAccessObjects('destination', false);
  t.deepEqual(objects.map(describeObject), ['ServiceAccount kube-system/lifeboat-writer', 'ClusterRole lifeboat-writer', 'ClusterRoleBinding lifeboat-writer', 'Secret kube-system/lifeboat-writer-token']);
  for (const kind of [...representativeKinds, { group: '', kind: 'Namespace' }]) {
    for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) t.true(allows(objects, kind.group, resourceOfKind(kind.kind), verb), `${verb} ${kind.group}/${kind.kind}`);
  }
  t.true(allows(objects, 'rbac.authorization.k8s.io', 'clusterroles', 'escalate'));
  t.false(allows(objects, 'rbac.authorization.k8s.io', 'clusterroles', 'impersonate'));
  for (const rule of rulesOf(objects)) t.false(rule.apiGroups.includes('*') || rule.resources.includes('*'));
});

test('accessObjectPath: the REST path of each access kind; another kind is refused', (t) => {
  const paths = roleAccessObjects('source', true).map(accessObjectPath);
  t.deepEqual(paths, [
    '/api/v1/namespaces/kube-system/serviceaccounts/lifeboat-reader', '/apis/rbac.authorization.k8s.io/v1/clusterroles/lifeboat-reader',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/lifeboat-reader', '/api/v1/namespaces/kube-system/secrets/lifeboat-reader-token',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/lifeboat-reader-secrets', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/lifeboat-reader-secrets',
  ]);
  t.throws(() => accessObjectPath({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', namespace: 'y' } }), { message: /ServiceAccounts, token Secrets, ClusterRoles and ClusterRoleBindings only/ });
});

test('accessObjects refuses what kustomize would change (a namespace, patches) instead of ignoring it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-kustomization-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: [a.yaml]\nnamespace: elsewhere\n');
  t.throws(() => accessObjects(dir), { message: /plain resources only; namespace is not supported/ });
  t.throws(() => accessObjects(path.join(dir, 'nothing')), { message: /no kustomization\.yaml/ });
});

test('clusterSecret and managedCluster: the kubeconfig under key kubeconfig, labelled; a valid ManagedCluster naming it', (t) => {
  const secret = clusterSecret('prod-src', 'ops', 'kubeconfig text') as KubeObject & { data: Record<string, string> };
  t.like(secret, { kind: 'Secret', metadata: { name: 'lifeboat-cluster-prod-src', namespace: 'ops', labels: { 'app.kubernetes.io/managed-by': 'lifeboat-cluster-add' } } });
  t.is(Buffer.from(secret.data.kubeconfig!, 'base64').toString(), 'kubeconfig text');
  const cluster = managedCluster('prod-src', 'ops', 'source');
  t.like(cluster, { metadata: { labels: { [roleLabel]: 'source' } }, spec: { secretRef: { name: 'lifeboat-cluster-prod-src', key: 'kubeconfig' } } });
  t.true(ManagedClusterSchema.safeParse({ ...cluster, metadata: { name: 'prod-src' } }).success);
});

const plan = (name: string, source: string, destination: string) => ({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name }, spec: { source: { cluster: source }, destination: { cluster: destination } } }) as KubeObject;
const cluster = (name: string, options: { role?: string; ready?: { status: string; reason: string; message: string } } = {}) => ({
  apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, ...(options.role ? { labels: { [roleLabel]: options.role } } : {}) },
  ...(options.ready ? { status: { conditions: [{ type: 'Ready', ...options.ready }] } } : {}),
}) as KubeObject;

test('plansNaming: each plan naming the cluster, with the roles it gives', (t) => {
  const plans = [plan('a', 'src', 'dst'), plan('b', 'dst', 'src'), plan('c', 'x', 'y'), plan('self', 'src', 'src')];
  t.deepEqual(plansNaming('src', plans), [{ plan: 'a', roles: ['source'] }, { plan: 'b', roles: ['destination'] }, { plan: 'self', roles: ['source', 'destination'] }]);
  t.deepEqual(plansNaming('none', plans), []);
});

test('clusterRow: role from the label, else from the plans; Ready as written; no status yet is Unknown; a long message shortened', (t) => {
  const long = `cannot ${'list secrets in namespace shop; '.repeat(10)}`;
  const cases: [string, KubeObject, KubeObject[], Partial<ReturnType<typeof clusterRow>>][] = [
    ['labelled', cluster('a', { role: 'source', ready: { status: 'True', reason: 'Verified', message: 'reachable' } }), [plan('p', 'x', 'a')], { role: 'source', ready: 'True', reason: 'Verified', message: 'reachable' }],
    ['from plans', cluster('a'), [plan('p', 'a', 'b')], { role: 'source' }],
    ['both', cluster('a'), [plan('p', 'a', 'b'), plan('q', 'b', 'a')], { role: 'source+destination' }],
    ['no plan', cluster('a'), [], { role: '-', ready: 'Unknown', reason: '-' }],
    ['denied', cluster('a', { ready: { status: 'False', reason: 'PermissionDenied', message: long } }), [], { ready: 'False', reason: 'PermissionDenied', message: shortenedMessage(long) }],
  ];
  for (const [name, object, plans, expected] of cases) t.like(clusterRow(object, plans), expected, name);
  const message = clusterRow(cases[4]![1], []).message;
  t.true(message.length <= listMessageLength && message.endsWith('…'));
  t.deepEqual(clusterRows([cluster('b'), cluster('a')], []).map((row) => row.name), ['a', 'b']);
});

test('shortenedMessage: one line, cut with an ellipsis', (t) => {
  t.is(shortenedMessage('a\n  b'), 'a b');
  t.is(shortenedMessage('abcdef', 4), 'abc…');
  t.is(shortenedMessage('abcd', 4), 'abcd');
});
