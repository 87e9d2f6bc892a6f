// Default exclusions: every rule of DESIGN.md "Processing rules", each with an object that must pass next to it.
import test from 'ava';
import type { KubeObject } from '../../src/kube/ref.ts';
import { defaultExclusion, excludedKindReason, isExcludedKind } from '../../src/pipeline/exclusions.ts';

function object(apiVersion: string, kind: string, metadata: KubeObject['metadata'], extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion, kind, metadata, ...extra };
}

const excluded: [string, KubeObject, RegExp][] = [
  ['core Event', object('v1', 'Event', { name: 'e', namespace: 'shop' }), /Events are runtime history/],
  ['events.k8s.io Event', object('events.k8s.io/v1', 'Event', { name: 'e', namespace: 'shop' }), /Events are runtime history/],
  ['Lease', object('coordination.k8s.io/v1', 'Lease', { name: 'leader', namespace: 'shop' }), /Leases are held/],
  ['Endpoints', object('v1', 'Endpoints', { name: 'web', namespace: 'shop' }), /Endpoints are maintained/],
  ['EndpointSlice', object('discovery.k8s.io/v1', 'EndpointSlice', { name: 'web-abc', namespace: 'shop' }), /EndpointSlices are maintained/],
  ['Pod without owner', object('v1', 'Pod', { name: 'p', namespace: 'shop' }), /Pods are created by their controllers/],
  ['Node', object('v1', 'Node', { name: 'n1' }), /Nodes belong/],
  ['TokenReview', object('authentication.k8s.io/v1', 'TokenReview', { name: 't' }), /TokenReview is a request/],
  ['SubjectAccessReview', object('authorization.k8s.io/v1', 'SubjectAccessReview', { name: 's' }), /SubjectAccessReview is a request/],
  ['CSR', object('certificates.k8s.io/v1', 'CertificateSigningRequest', { name: 'c' }), /CertificateSigningRequests are one-off/],
  ['PodMetrics', object('metrics.k8s.io/v1beta1', 'PodMetrics', { name: 'p', namespace: 'shop' }), /metrics are measurements/],
  ['custom metrics', object('custom.metrics.k8s.io/v1beta2', 'MetricValueList', { name: 'm' }), /metrics are measurements/],
  ['ControllerRevision', object('apps/v1', 'ControllerRevision', { name: 'db-123', namespace: 'shop' }), /ControllerRevisions are history/],
  ['RecoveryPlan', object('lifeboat.dev/v1alpha1', 'RecoveryPlan', { name: 'prod' }), /lifeboat's own objects/],
  ['object labelled by lifeboat', object('v1', 'ConfigMap', { name: 'c', namespace: 'shop', labels: { 'lifeboat.dev/plan': 'prod' } }), /lifeboat's own object \(label lifeboat.dev\/plan\)/],
  ['ReplicaSet of a Deployment', object('apps/v1', 'ReplicaSet', {
    name: 'web-5d9c', namespace: 'shop',
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }],
  }), /controlled by Deployment web/],
  ['Job of a CronJob (controller among several owners)', object('batch/v1', 'Job', {
    name: 'nightly-2900', namespace: 'shop',
    ownerReferences: [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'anchor', uid: 'u0' },
      { apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: 'u1', controller: true },
    ],
  }), /controlled by CronJob nightly/],
  ['object in kube-system', object('v1', 'ConfigMap', { name: 'coredns', namespace: 'kube-system' }), /in system namespace kube-system/],
  ['object in kube-public', object('v1', 'ConfigMap', { name: 'cluster-info', namespace: 'kube-public' }), /in system namespace kube-public/],
  ['object in kube-node-lease', object('v1', 'ConfigMap', { name: 'x', namespace: 'kube-node-lease' }), /in system namespace kube-node-lease/],
  ['Namespace kube-system', object('v1', 'Namespace', { name: 'kube-system' }), /system namespace kube-system exists in every cluster/],
  ['service-account token', object('v1', 'Secret', { name: 'build-token', namespace: 'shop' }, { type: 'kubernetes.io/service-account-token' }), /service-account token Secrets/],
  ['kube-root-ca.crt', object('v1', 'ConfigMap', { name: 'kube-root-ca.crt', namespace: 'shop' }), /kube-root-ca.crt is published/],
  ['default ServiceAccount', object('v1', 'ServiceAccount', { name: 'default', namespace: 'shop' }), /default ServiceAccount is created/],
];

for (const [title, input, reason] of excluded) {
  test(`excluded: ${title}`, (t) => {
    const verdict = defaultExclusion(input);
    t.true(verdict.excluded);
    if (verdict.excluded) t.regex(verdict.reason, reason);
  });
}

const kept: [string, KubeObject][] = [
  ['ConfigMap', object('v1', 'ConfigMap', { name: 'settings', namespace: 'shop' })],
  ['Deployment', object('apps/v1', 'Deployment', { name: 'web', namespace: 'shop', labels: { 'app.kubernetes.io/instance': 'web' } })],
  ['opaque Secret', object('v1', 'Secret', { name: 'db', namespace: 'shop' }, { type: 'Opaque' })],
  ['ServiceAccount that is not default', object('v1', 'ServiceAccount', { name: 'builder', namespace: 'shop' })],
  ['object with a non-controller owner', object('v1', 'ConfigMap', {
    name: 'c', namespace: 'shop', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u', controller: false }],
  })],
  ['Namespace shop', object('v1', 'Namespace', { name: 'shop' })],
  ['Namespace default', object('v1', 'Namespace', { name: 'default' })],
  ['object in default', object('v1', 'ConfigMap', { name: 'c', namespace: 'default' })],
  ['custom resource named like a system kind', object('serving.knative.dev/v1', 'Service', { name: 'web', namespace: 'shop' })],
  ['Event-like kind in another group', object('example.com/v1', 'Pod', { name: 'p', namespace: 'shop' })],
  ['ClusterRole', object('rbac.authorization.k8s.io/v1', 'ClusterRole', { name: 'reader' })],
  ['lifeboat annotation alone', object('v1', 'ConfigMap', { name: 'c', namespace: 'shop', annotations: { 'lifeboat.dev/revision': 'abc' } })],
];

for (const [title, input] of kept) {
  test(`kept: ${title}`, (t) => {
    t.deepEqual(defaultExclusion(input), { excluded: false });
  });
}

test('system namespaces can be opted in', (t) => {
  const options = { includeSystemNamespaces: true };
  t.deepEqual(defaultExclusion(object('v1', 'ConfigMap', { name: 'coredns', namespace: 'kube-system' }), options), { excluded: false });
  t.deepEqual(defaultExclusion(object('v1', 'Namespace', { name: 'kube-public' }), options), { excluded: false });
  // Still excluded for their own reasons.
  t.true(defaultExclusion(object('v1', 'ConfigMap', { name: 'kube-root-ca.crt', namespace: 'kube-system' }), options).excluded);
  t.true(defaultExclusion(object('coordination.k8s.io/v1', 'Lease', { name: 'l', namespace: 'kube-node-lease' }), options).excluded);
});

test('whole kinds the listener never watches', (t) => {
  const table: [string, string, boolean][] = [
    ['', 'Event', true],
    ['events.k8s.io', 'Event', true],
    ['coordination.k8s.io', 'Lease', true],
    ['', 'Endpoints', true],
    ['discovery.k8s.io', 'EndpointSlice', true],
    ['', 'Pod', true],
    ['', 'Node', true],
    ['authorization.k8s.io', 'SelfSubjectRulesReview', true],
    ['certificates.k8s.io', 'CertificateSigningRequest', true],
    ['metrics.k8s.io', 'NodeMetrics', true],
    ['apps', 'ControllerRevision', true],
    ['lifeboat.dev', 'RecoveryExecutionJob', true],
    ['', 'ConfigMap', false],
    ['', 'Secret', false],
    ['', 'ServiceAccount', false],
    ['apps', 'ReplicaSet', false],
    ['batch', 'Job', false],
    ['example.com', 'Event', false],
    ['notlifeboat.dev', 'Thing', false],
  ];
  for (const [group, kind, expected] of table) {
    t.is(isExcludedKind(group, kind), expected, `${kind}.${group}`);
    t.is(excludedKindReason(group, kind) !== undefined, expected, `${kind}.${group}`);
  }
});
