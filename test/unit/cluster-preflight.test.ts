// The ManagedCluster preflight's pure parts: which SelfSubjectAccessReviews the plans naming a cluster call for (as
// source, as destination), and the status made of the answers (Ready, SourceWritable only while True, capped messages).
import test from 'ava';
import {
  accessChecks, clusterStatus, describeCheck, joinCapped, resourceOfKind, statusChanged, type AccessCheck, type ClusterObservation,
} from '../../src/operator/clusters.ts';
import { withDefaults, type RecoveryPlanInput } from '../../src/plan/schema.ts';

const now = '2025-06-01T12:00:00Z';
const earlier = '2025-06-01T11:00:00Z';

type Spec = RecoveryPlanInput['spec'];
const plan = (name: string, spec: Partial<Spec> & Pick<Spec, 'resources'>) => withDefaults({
  apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name },
  spec: { source: { cluster: 'prod' }, destination: { cluster: 'standby' }, secrets: { mode: 'exclude' }, ...spec },
});

const described = (checks: AccessCheck[]) => checks.map(describeCheck);

test('resources of kinds, as kubectl guesses them', (t) => {
  const cases: [string, string][] = [['Secret', 'secrets'], ['Ingress', 'ingresses'], ['NetworkPolicy', 'networkpolicies'], ['Gateway', 'gateways'], ['StorageClass', 'storageclasses']];
  for (const [kind, resource] of cases) {
    t.is(resourceOfKind(kind), resource, kind);
  }
});

test('a source: get, list and watch of the named kinds in each named namespace, list and watch across the cluster, writes probed', (t) => {
  const checks = accessChecks('prod', [plan('shop', { resources: { include: [{ namespaces: ['shop'], kinds: ['Secret', 'apps/Deployment'] }] } })]);
  const text = described(checks.required);
  for (const expected of ['get secrets in namespace shop', 'list secrets in namespace shop', 'watch secrets in namespace shop', 'list secrets cluster-wide', 'watch deployments cluster-wide', 'list namespaces cluster-wide']) {
    t.true(text.includes(expected), expected);
  }
  t.false(text.some((line) => /^(create|update|patch|delete) /.test(line)), 'a source is only read');
  t.true(checks.required.find((check) => check.resource === 'deployments')!.group === 'apps');
  t.true(described(checks.writeProbes).includes('delete deployments in namespace shop'));
  t.regex(checks.summary, /^source of 1 plan: \d+ permissions checked$/);
});

test('a source selected by every kind and a glob: the representative kinds, Secrets among them, cluster-wide', (t) => {
  const checks = accessChecks('prod', [plan('all', { resources: { include: [{ namespaces: ['shop-*'] }] } })]);
  const text = described(checks.required);
  for (const expected of ['list secrets cluster-wide', 'list configmaps cluster-wide', 'watch deployments cluster-wide', 'get cronjobs cluster-wide']) t.true(text.includes(expected), expected);
  t.false(text.some((line) => line.includes('in namespace')), 'a glob reads every namespace');
});

test('a group wildcard outside the representatives checks every resource of that group', (t) => {
  const checks = accessChecks('prod', [plan('crs', { resources: { include: [{ namespaces: ['shop'], kinds: ['example.com/*'] }] } })]);
  t.true(checks.required.some((check) => check.group === 'example.com' && check.resource === '*' && check.verb === 'list' && check.namespace === 'shop'));
});

test('a destination: the synchronizer writes in the mapped namespaces, holders in lifeboat-system for webhooks, no write probes', (t) => {
  const checks = accessChecks('standby', [plan('shop', {
    resources: { include: [{ namespaces: ['shop'], kinds: ['ConfigMap'] }, { kinds: ['admissionregistration.k8s.io/ValidatingWebhookConfiguration'] }] },
    transforms: [{ namespaceMapping: { shop: 'shop-dr' } }],
  })]);
  const text = described(checks.required);
  for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) t.true(text.includes(`${verb} configmaps cluster-wide`), verb);
  t.deepEqual(checks.writeProbes, []);
  t.true(text.includes('create configmaps in namespace lifeboat-system'));
  t.true(text.includes('patch validatingwebhookconfigurations cluster-wide'));
  t.true(text.includes('create namespaces cluster-wide'));
});

test('a destination of a plan with named namespaces writes there, mapped', (t) => {
  const checks = accessChecks('standby', [plan('shop', { resources: { include: [{ namespaces: ['shop'], kinds: ['ConfigMap'] }] }, transforms: [{ namespaceMapping: { shop: 'shop-dr' } }] })]);
  const text = described(checks.required);
  t.true(text.includes('create configmaps in namespace shop-dr'));
  t.false(text.includes('create configmaps in namespace shop'));
  t.false(text.some((line) => line.includes('lifeboat-system')), 'no holders without held kinds');
});

test('no plan names the cluster: nothing to check', (t) => {
  const checks = accessChecks('elsewhere', [plan('shop', { resources: { include: [{ namespaces: ['shop'] }] } })]);
  t.deepEqual(checks.required, []);
  t.regex(checks.summary, /no plan uses this cluster/);
});

test('checks of several plans are asked once each', (t) => {
  const spec = { resources: { include: [{ namespaces: ['shop'], kinds: ['ConfigMap'] }] } };
  const checks = accessChecks('prod', [plan('a', spec), plan('b', spec)]);
  t.is(new Set(described(checks.required)).size, checks.required.length);
});

const secrets = (verb: string, namespace?: string): AccessCheck => ({ verb, group: '', resource: 'secrets', ...(namespace ? { namespace } : {}) });
const checked = (extra: Partial<Extract<ClusterObservation, { type: 'checked' }>> = {}): ClusterObservation =>
  ({ type: 'checked', generation: 2, serverVersion: 'v1.34.1', summary: 'source of 1 plan: 12 permissions checked', denied: [], writable: [], ...extra });

test('the status: Verified, PermissionDenied naming each permission, Unreachable, ClusterNotReadable', (t) => {
  const verified = clusterStatus(checked(), undefined, now);
  t.like(verified, { reachable: true, serverVersion: 'v1.34.1', lastCheckTime: now });
  t.like(verified.conditions[0], { type: 'Ready', status: 'True', reason: 'Verified', observedGeneration: 2, lastTransitionTime: now });
  t.regex(verified.message!, /^reachable \(Kubernetes v1\.34\.1\); source of 1 plan: 12 permissions checked, all allowed$/);
  t.is(verified.conditions.length, 1, 'no SourceWritable when the source cannot write');

  const denied = clusterStatus(checked({ denied: [secrets('list', 'shop'), secrets('watch')] }), verified, now);
  t.like(denied.conditions[0], { status: 'False', reason: 'PermissionDenied', message: 'cannot list secrets in namespace shop; cannot watch secrets cluster-wide' });

  const unreachable = clusterStatus({ type: 'unreachable', generation: 2, error: 'connect ECONNREFUSED 127.0.0.1:1' }, verified, now);
  t.like(unreachable, { reachable: false });
  t.is(unreachable.serverVersion, undefined);
  t.like(unreachable.conditions[0], { status: 'False', reason: 'Unreachable', message: 'cannot reach the cluster: connect ECONNREFUSED 127.0.0.1:1' });

  const unreadable = clusterStatus({ type: 'unreadable', generation: 2, message: 'ManagedCluster prod: Secret x (spec.secretRef.name) not found' }, undefined, now);
  t.is(unreadable.reachable, undefined);
  t.like(unreadable.conditions[0], { reason: 'ClusterNotReadable' });
});

test('SourceWritable only while True, naming the writes; transition times kept while a status holds', (t) => {
  const writable = clusterStatus(checked({ writable: [{ verb: 'delete', group: 'apps', resource: 'deployments', namespace: 'shop' }] }), undefined, earlier);
  t.like(writable.conditions[1], { type: 'SourceWritable', status: 'True', reason: 'WritePermitted', message: 'can delete deployments in namespace shop; least privilege is a read-only identity on the source' });
  const again = clusterStatus(checked({ writable: [{ verb: 'delete', group: 'apps', resource: 'deployments', namespace: 'shop' }] }), writable, now);
  t.is(again.conditions[0]!.lastTransitionTime, earlier);
  t.is(again.conditions[1]!.lastTransitionTime, earlier);
  t.false(statusChanged(writable, again), 'only lastCheckTime moved');
  const readOnly = clusterStatus(checked(), again, now);
  t.deepEqual(readOnly.conditions.map((condition) => condition.type), ['Ready']);
  t.true(statusChanged(again, readOnly));
});

test('long lists of missing permissions are capped, saying how many more', (t) => {
  const parts = Array.from({ length: 200 }, (_, index) => `cannot list things${index} in namespace shop`);
  const text = joinCapped(parts);
  t.true(text.length <= 1000, `${text.length}`);
  t.regex(text, /^cannot list things0 in namespace shop; .* \(and \d+ more\)$/);
  t.is(joinCapped(['a', 'b']), 'a; b');
  const status = clusterStatus(checked({ denied: Array.from({ length: 300 }, (_, index) => secrets('list', `namespace-${index}`)) }), undefined, now);
  t.true(status.conditions[0]!.message.length <= 1000);
});
