// The apply order, pinned: one expected full ordering of a realistic mix, its exact reverse for deletes, and stages.
import test from 'ava';
import type { UnversionedRef } from '../../src/kube/ref.ts';
import { compareForApply, compareForDelete, dependsOn, gatesNextStage, isNamespace, kindRank, Stage, stageOf, stageRules, stagesOf } from '../../src/pipeline/order.ts';

const r = (group: string, kind: string, name: string, namespace?: string): UnversionedRef =>
  namespace === undefined ? { group, kind, name } : { group, kind, namespace, name };

/** The pinned order. Changing it is a design decision: update DESIGN.md in the same commit. */
const expected: UnversionedRef[] = [
  r('apiextensions.k8s.io', 'CustomResourceDefinition', 'gateways.gateway.networking.k8s.io'),
  r('apiextensions.k8s.io', 'CustomResourceDefinition', 'widgets.example.com'),
  r('', 'Namespace', 'billing'),
  r('', 'Namespace', 'shop'),
  r('rbac.authorization.k8s.io', 'ClusterRole', 'widget-editor'),
  // *Class kinds: *.k8s.io groups before custom groups, then by group.
  r('gateway.networking.k8s.io', 'GatewayClass', 'istio'),
  r('networking.k8s.io', 'IngressClass', 'nginx'),
  r('node.k8s.io', 'RuntimeClass', 'gvisor'),
  r('scheduling.k8s.io', 'PriorityClass', 'critical'),
  r('storage.k8s.io', 'StorageClass', 'fast'),
  r('storage.k8s.io', 'StorageClass', 'slow'),
  r('example.com', 'WidgetClass', 'fast'),
  r('', 'ServiceAccount', 'web', 'billing'),
  r('', 'ServiceAccount', 'web', 'shop'),
  r('', 'Secret', 'db', 'shop'),
  r('', 'ConfigMap', 'settings', 'shop'),
  r('', 'LimitRange', 'limits', 'shop'),
  r('', 'ResourceQuota', 'quota', 'shop'),
  r('', 'PersistentVolume', 'nfs-share'),
  r('', 'PersistentVolumeClaim', 'data', 'shop'),
  r('rbac.authorization.k8s.io', 'ClusterRoleBinding', 'widget-editors'),
  r('rbac.authorization.k8s.io', 'Role', 'reader', 'shop'),
  r('rbac.authorization.k8s.io', 'RoleBinding', 'reader', 'shop'),
  r('', 'Service', 'web', 'shop'),
  r('apps', 'DaemonSet', 'agent', 'shop'),
  r('apps', 'Deployment', 'api', 'billing'),
  r('apps', 'Deployment', 'web', 'shop'),
  r('apps', 'ReplicaSet', 'standalone', 'shop'),
  r('', 'ReplicationController', 'legacy', 'shop'),
  r('apps', 'StatefulSet', 'db', 'shop'),
  r('batch', 'Job', 'migrate', 'shop'),
  r('batch', 'CronJob', 'nightly', 'shop'),
  r('autoscaling', 'HorizontalPodAutoscaler', 'web', 'shop'),
  r('policy', 'PodDisruptionBudget', 'web', 'shop'),
  r('networking.k8s.io', 'Ingress', 'web', 'shop'),
  r('networking.k8s.io', 'NetworkPolicy', 'deny-all', 'shop'),
  r('apiregistration.k8s.io', 'APIService', 'v1beta1.metrics.example.com'),
  // Kinds of *.k8s.io groups without a rank of their own (built-in or not), by group and kind.
  r('flowcontrol.apiserver.k8s.io', 'FlowSchema', 'shop'),
  r('gateway.networking.k8s.io', 'Gateway', 'edge', 'shop'),
  r('storage.k8s.io', 'CSIDriver', 'nfs.csi.k8s.io'),
  // Custom resources last, by group and kind (a CR called Service is not a Service).
  r('example.com', 'Widget', 'a', 'billing'),
  r('example.com', 'Widget', 'a', 'shop'),
  r('example.com', 'Widget', 'b', 'shop'),
  r('serving.knative.dev', 'Service', 'hello', 'shop'),
  r('admissionregistration.k8s.io', 'ValidatingAdmissionPolicy', 'require-labels'),
  r('admissionregistration.k8s.io', 'ValidatingAdmissionPolicyBinding', 'require-labels'),
  r('admissionregistration.k8s.io', 'MutatingAdmissionPolicy', 'defaults'),
  r('admissionregistration.k8s.io', 'MutatingAdmissionPolicyBinding', 'defaults'),
  r('admissionregistration.k8s.io', 'MutatingWebhookConfiguration', 'inject'),
  r('admissionregistration.k8s.io', 'ValidatingWebhookConfiguration', 'policy'),
];

/** A fixed shuffle (no randomness: a failing order must fail every time). */
function shuffled<T>(items: readonly T[]): T[] {
  return items.map((item, index) => ({ item, key: (index * 7919) % 101 })).sort((a, b) => a.key - b.key).map(({ item }) => item);
}

test('the full apply order', (t) => {
  t.deepEqual(shuffled(expected).sort(compareForApply), expected);
  t.deepEqual([...expected].reverse().sort(compareForApply), expected);
});

test('deletes run in exactly the reverse order', (t) => {
  t.deepEqual(shuffled(expected).sort(compareForDelete), [...expected].reverse());
});

test('the comparator is a total order: only identical refs compare equal', (t) => {
  for (const a of expected) {
    for (const b of expected) {
      const sign = Math.sign(compareForApply(a, b));
      t.is(sign, 0 - Math.sign(compareForApply(b, a)) || 0);
      if (a === b) t.is(sign, 0);
      else t.not(sign, 0, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }
});

test('stages of each kind', (t) => {
  const table: [string, string, Stage][] = [
    ['apiextensions.k8s.io', 'CustomResourceDefinition', Stage.definitions],
    ['', 'Namespace', Stage.definitions],
    ['rbac.authorization.k8s.io', 'ClusterRole', Stage.definitions],
    ['storage.k8s.io', 'StorageClass', Stage.classes],
    ['storage.k8s.io', 'VolumeAttributesClass', Stage.classes],
    ['resource.k8s.io', 'DeviceClass', Stage.classes],
    ['snapshot.storage.k8s.io', 'VolumeSnapshotClass', Stage.classes],
    ['rbac.authorization.k8s.io', 'ClusterRoleBinding', Stage.resources],
    ['', 'Secret', Stage.resources],
    ['example.com', 'Widget', Stage.resources],
    ['example.com', 'Namespace', Stage.resources],
    ['admissionregistration.k8s.io', 'MutatingWebhookConfiguration', Stage.admission],
    ['admissionregistration.k8s.io', 'ValidatingAdmissionPolicyBinding', Stage.admission],
  ];
  for (const [group, kind, stage] of table) t.is(stageOf({ group, kind }), stage, `${kind}.${group}`);
});

test('listed kinds rank before unlisted built-ins, which rank before custom resources', (t) => {
  t.true(kindRank({ group: 'networking.k8s.io', kind: 'NetworkPolicy' }) < kindRank({ group: 'storage.k8s.io', kind: 'CSIDriver' }));
  t.true(kindRank({ group: 'storage.k8s.io', kind: 'CSIDriver' }) < kindRank({ group: 'example.com', kind: 'Widget' }));
  t.is(kindRank({ group: 'example.com', kind: 'Widget' }), kindRank({ group: 'serving.knative.dev', kind: 'Service' }));
});

test('stagesOf groups in order, sorts inside each stage, and says which stage to wait for', (t) => {
  const refs = [
    r('apps', 'Deployment', 'web', 'shop'),
    r('admissionregistration.k8s.io', 'ValidatingWebhookConfiguration', 'policy'),
    r('', 'ConfigMap', 'settings', 'shop'),
    r('example.com', 'Widget', 'a', 'shop'),
    r('', 'Namespace', 'shop'),
    r('apiextensions.k8s.io', 'CustomResourceDefinition', 'widgets.example.com'),
  ];
  t.deepEqual(stagesOf(refs), [
    { stage: 'definitions', waitForReady: true, refs: [refs[5], refs[4]] },
    { stage: 'resources', waitForReady: false, refs: [refs[2], refs[0], refs[3]] },
    { stage: 'admission', waitForReady: false, refs: [refs[1]] },
  ]);
  t.deepEqual(stagesOf(refs, 'delete'), [
    { stage: 'admission', waitForReady: false, refs: [refs[1]] },
    { stage: 'resources', waitForReady: false, refs: [refs[3], refs[0], refs[2]] },
    { stage: 'definitions', waitForReady: false, refs: [refs[4], refs[5]] },
  ]);
  t.deepEqual(stagesOf([]), []);
});

test('stagesOf keeps the caller’s objects (extra fields and identity)', (t) => {
  const item = { ...r('', 'ConfigMap', 'c', 'shop'), blob: 'abc' };
  const [group] = stagesOf([item]);
  t.is(group?.refs[0], item);
});

test('the stage rules are rows of one table: the first row that matches decides', (t) => {
  const table: [string, string, string | undefined][] = [
    ['storage.k8s.io', 'StorageClass', 'class kinds'],
    ['networking.k8s.io', 'IngressClass', 'class kinds'],
    ['scheduling.k8s.io', 'PriorityClass', 'class kinds'],
    ['node.k8s.io', 'RuntimeClass', 'class kinds'],
    ['gateway.networking.k8s.io', 'GatewayClass', 'class kinds'],
    ['snapshot.storage.k8s.io', 'VolumeSnapshotClass', 'class kinds'],
    ['resource.k8s.io', 'DeviceClass', 'class kinds'],
    ['example.com', 'WidgetClass', 'kind ends with Class'],
    ['example.com', 'Classroom', undefined],
    ['apiextensions.k8s.io', 'CustomResourceDefinition', 'definitions'],
    ['admissionregistration.k8s.io', 'ValidatingWebhookConfiguration', 'admission last'],
    ['', 'ConfigMap', undefined],
  ];
  for (const [group, kind, rule] of table) {
    const row = stageRules.find((candidate) => candidate.name === rule);
    t.is(stageOf({ group, kind }), row?.stage ?? Stage.resources, `${kind}.${group}`);
  }
  t.deepEqual(stageRules.map((rule) => rule.name), ['definitions', 'admission last', 'class kinds', 'kind ends with Class']);
});

test('a custom resource comes after its CRD, and the CRD gates the next stage', (t) => {
  const definition = r('apiextensions.k8s.io', 'CustomResourceDefinition', 'widgets.example.com');
  const widget = r('example.com', 'Widget', 'a', 'shop');
  const widgetClass = r('example.com', 'WidgetClass', 'fast');
  t.true(compareForApply(definition, widget) < 0);
  t.true(compareForApply(definition, widgetClass) < 0);
  t.true(compareForDelete(widget, definition) < 0, 'deleted before its CRD');
  const gates: [UnversionedRef, boolean][] = [[definition, true], [r('', 'Namespace', 'shop'), false], [r('rbac.authorization.k8s.io', 'ClusterRole', 'x'), false], [widget, false]];
  for (const [ref, expected] of gates) t.is(gatesNextStage(ref), expected, ref.kind);
});

test('what an object waits for: its own Namespace, when namespaced and not a definition', (t) => {
  const table: [UnversionedRef, UnversionedRef | undefined][] = [
    [r('', 'ConfigMap', 'c', 'shop'), r('', 'Namespace', 'shop')],
    [r('example.com', 'Widget', 'a', 'billing'), r('', 'Namespace', 'billing')],
    [r('rbac.authorization.k8s.io', 'RoleBinding', 'b', 'shop'), r('', 'Namespace', 'shop')],
    [r('', 'Namespace', 'shop'), undefined],
    [r('storage.k8s.io', 'StorageClass', 'fast'), undefined],
    [r('apiextensions.k8s.io', 'CustomResourceDefinition', 'widgets.example.com'), undefined],
  ];
  for (const [ref, expected] of table) t.deepEqual(dependsOn(ref), expected, `${ref.kind} ${ref.name}`);
  t.true(isNamespace(r('', 'Namespace', 'shop')));
  t.false(isNamespace(r('example.com', 'Namespace', 'shop')), 'a custom Namespace kind is not a Namespace');
});
