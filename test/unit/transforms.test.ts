// Transforms and plan scope: what a plan replicates and how each object is changed on its way to the stand-by.
import test from 'ava';
import { compileScope } from '../../src/pipeline/select.ts';
import { annotations, compileTransforms, rewriteImage, TransformError, type KubeObject } from '../../src/pipeline/transforms.ts';
import { TransformSchema } from '../../src/plan/schema.ts';
import type { Transform } from '../../src/plan/schema.ts';

const deployment = (namespace = 'shop', replicas: number | null = 3): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace, labels: { app: 'web' } },
  spec: { ...(replicas === null ? {} : { replicas }), selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: {
    initContainers: [{ name: 'init', image: 'registry.example.com/shop/init:1' }],
    containers: [{ name: 'web', image: 'registry.example.com/shop/web:1.2', args: ['--port=80'], env: [{ name: 'MODE', value: 'prod' }, { name: 'KEEP', value: 'x' }] },
      { name: 'sidecar', image: 'docker.io/envoy@sha256:abc' }] } } },
});

const run = (transforms: Transform[], object: KubeObject, namespaced = true) => compileTransforms(transforms)(object, namespaced);

test('image rewrites match whole path components and keep tags and digests', (t) => {
  const rules = [{ from: 'registry.example.com/shop', to: 'dr.example.com/shop' }, { from: 'docker.io', to: 'mirror.local' }];
  const table: [string, string][] = [
    ['registry.example.com/shop/web:1.2', 'dr.example.com/shop/web:1.2'],
    ['registry.example.com/shop:1', 'dr.example.com/shop:1'],
    ['registry.example.com/shopping/web:1', 'registry.example.com/shopping/web:1'],
    ['docker.io/envoy@sha256:abc', 'mirror.local/envoy@sha256:abc'],
    ['nginx:1.27', 'nginx:1.27'],
  ];
  for (const [input, expected] of table) t.is(rewriteImage(input, rules), expected, input);
});

test('image prefixes with a trailing "/" rewrite as the same prefixes without it, never with a double slash', (t) => {
  const images = (transform: Transform) => {
    const podSpec = (run([transform], deployment()).spec as { template: { spec: { initContainers: Array<{ image: string }>; containers: Array<{ image: string }> } } }).template.spec;
    return [...podSpec.initContainers, ...podSpec.containers].map((container) => container.image);
  };
  const expected = ['dr.example.com/shop/init:1', 'dr.example.com/shop/web:1.2', 'mirror.local/envoy@sha256:abc'];
  const table: Array<[string, string, string, string]> = [
    ['registry.example.com/shop', 'dr.example.com/shop', 'docker.io', 'mirror.local'],
    ['registry.example.com/shop/', 'dr.example.com/shop/', 'docker.io/', 'mirror.local/'],
    ['registry.example.com/shop/', 'dr.example.com/shop', 'docker.io', 'mirror.local/'],
    ['registry.example.com/', 'dr.example.com/', 'docker.io/', 'mirror.local'],
  ];
  for (const [from, to, otherFrom, otherTo] of table) {
    // Through the schema, as a plan file gives them: the schema is where the "/" is dropped.
    const transform = TransformSchema.parse({ images: [{ from, to }, { from: otherFrom, to: otherTo }] });
    t.deepEqual(images(transform), expected, `${from} → ${to}`);
  }
});

test('deactivate scales workloads to zero and keeps the original count', (t) => {
  const out = run([{ deactivate: {} }], deployment());
  t.is((out.spec as { replicas: number }).replicas, 0);
  t.is(out.metadata.annotations?.[annotations.replicas], '3');
  t.is(out.metadata.annotations?.[annotations.deactivated], 'true');
  const defaulted = run([{ deactivate: {} }], deployment('shop', null));
  t.is(defaulted.metadata.annotations?.[annotations.replicas], '1', 'absent replicas means 1');
});

test('deactivate suspends CronJobs and keeps their own suspend value; DaemonSets get an unmatchable node selector', (t) => {
  const cron: KubeObject = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c', namespace: 'n' }, spec: { schedule: '* * * * *', suspend: false } };
  const out = run([{ deactivate: {} }], cron);
  t.deepEqual([(out.spec as { suspend: boolean }).suspend, out.metadata.annotations?.[annotations.suspend]], [true, 'false']);
  const daemon: KubeObject = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd', namespace: 'n' }, spec: { template: { spec: { nodeSelector: { disk: 'ssd' } } } } };
  const deactivated = run([{ deactivate: {} }], daemon);
  t.deepEqual((deactivated.spec as { template: { spec: { nodeSelector: object } } }).template.spec.nodeSelector, { disk: 'ssd', 'lifeboat.dev/deactivated': 'true' });
  t.is(deactivated.metadata.annotations?.[annotations.nodeSelector], '{"disk":"ssd"}');
});

test('deactivate of custom resources sets replicas and suspend paths and saves the originals', (t) => {
  const custom: KubeObject = { apiVersion: 'example.com/v1', kind: 'Worker', metadata: { name: 'w', namespace: 'n' }, spec: { size: 5, paused: false } };
  const out = run([{ deactivate: { replicasPaths: ['/spec/size'], suspendPaths: ['/spec/paused'] } }], custom);
  t.deepEqual(out.spec, { size: 0, paused: true });
  t.deepEqual(JSON.parse(out.metadata.annotations?.[annotations.savedPaths] ?? '{}'), { '/spec/size': 5, '/spec/paused': false });
});

test('ConfigMaps are not deactivated and carry no marker', (t) => {
  const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' }, data: { a: '1' } };
  t.deepEqual(run([{ deactivate: {} }], cm), cm);
});

test('namespace mapping moves objects, Namespaces and ServiceAccount subjects', (t) => {
  const mapping = [{ namespaceMapping: { shop: 'shop-dr' } }];
  t.is(run(mapping, deployment()).metadata.namespace, 'shop-dr');
  t.is(run(mapping, deployment('other')).metadata.namespace, 'other');
  t.is(run(mapping, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }, false).metadata.name, 'shop-dr');
  const binding: KubeObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'b', namespace: 'shop' },
    roleRef: { kind: 'Role', name: 'r', apiGroup: 'rbac.authorization.k8s.io' }, subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: 'shop' }, { kind: 'User', name: 'u' }] };
  t.deepEqual(run(mapping, binding).subjects, [{ kind: 'ServiceAccount', name: 'sa', namespace: 'shop-dr' }, { kind: 'User', name: 'u' }]);
});

test('selects match the source object even after a namespace mapping', (t) => {
  const out = run([{ namespaceMapping: { shop: 'shop-dr' } }, { select: { namespaces: ['shop'] }, deactivate: {} }], deployment());
  t.is((out.spec as { replicas: number }).replicas, 0);
  const skipped = run([{ select: { kinds: ['apps/StatefulSet'] }, deactivate: {} }], deployment());
  t.is((skipped.spec as { replicas: number }).replicas, 3);
});

test('labels, annotations, env and args edits', (t) => {
  const out = run([
    { labels: { set: { tier: 'dr' }, remove: ['app'] } },
    { annotations: { set: { note: 'standby' } } },
    { env: { container: 'web', set: { MODE: 'dr', NEW: '1' }, remove: ['KEEP'] } },
    { args: { container: 'web', append: ['--standby'] } },
    { args: { container: 'sidecar', set: ['--quiet'] } },
  ], deployment());
  t.deepEqual(out.metadata.labels, { tier: 'dr' });
  t.deepEqual(out.metadata.annotations, { note: 'standby' });
  const containers = (out.spec as { template: { spec: { containers: { name: string; env?: unknown; args?: unknown }[] } } }).template.spec.containers;
  t.deepEqual(containers[0]?.env, [{ name: 'MODE', value: 'dr' }, { name: 'NEW', value: '1' }]);
  t.deepEqual(containers[0]?.args, ['--port=80', '--standby']);
  t.deepEqual(containers[1]?.args, ['--quiet']);
});

test('jsonPatch applies RFC 6902 operations and fails with a clear error', (t) => {
  const out = run([{ jsonPatch: [{ op: 'add', path: '/metadata/labels/dr', value: 'yes' }, { op: 'replace', path: '/spec/replicas', value: 1 }] }], deployment());
  t.is(out.metadata.labels?.dr, 'yes');
  t.is((out.spec as { replicas: number }).replicas, 1);
  const error = t.throws(() => run([{ jsonPatch: [{ op: 'remove', path: '/spec/missing' }] }], deployment()));
  t.true(error instanceof TransformError);
  t.regex(error?.message ?? '', /^jsonPatch failed at operation 1 \(remove \/spec\/missing\): /);
});

test('transforms never mutate their input', (t) => {
  const input = deployment();
  const copy = structuredClone(input);
  run([{ deactivate: {} }, { images: [{ from: 'registry.example.com', to: 'dr.example.com' }] }, { labels: { set: { a: 'b' } } }], input);
  t.deepEqual(input, copy);
});

test('plan scope: includes, excludes, cluster-scoped kinds only when named, Namespaces come along', (t) => {
  const scope = compileScope({ resources: {
    include: [{ namespaces: ['shop-*'] }, { kinds: ['rbac.authorization.k8s.io/ClusterRole'], names: ['shop-*'] }],
    exclude: [{ kinds: ['Secret'], labelSelector: 'skip=true' }],
  } });
  const c = (group: string, kind: string, namespace: string | undefined, name: string, labels?: Record<string, string>) =>
    ({ group, kind, namespace, name, labels, namespaced: namespace !== undefined });
  const table: [ReturnType<typeof c>, boolean][] = [
    [c('apps', 'Deployment', 'shop-web', 'web'), true],
    [c('apps', 'Deployment', 'other', 'web'), false],
    [c('', 'Secret', 'shop-web', 's', { skip: 'true' }), false],
    [c('', 'Secret', 'shop-web', 's'), true],
    [c('', 'Namespace', undefined, 'shop-web'), true],
    [c('', 'Namespace', undefined, 'default'), false],
    [c('rbac.authorization.k8s.io', 'ClusterRole', undefined, 'shop-admin'), true],
    [c('rbac.authorization.k8s.io', 'ClusterRole', undefined, 'admin'), false],
    [c('storage.k8s.io', 'StorageClass', undefined, 'fast'), false],
  ];
  for (const [candidate, expected] of table) t.is(scope.includes(candidate), expected, `${candidate.kind} ${candidate.namespace}/${candidate.name}`);
  t.true(scope.selectsKind('rbac.authorization.k8s.io', 'ClusterRole', false));
  t.false(scope.selectsKind('storage.k8s.io', 'StorageClass', false));
  t.true(scope.selectsKind('example.com', 'Widget', true));
});

test('an include of only cluster-scoped kinds does not bring every Namespace along', (t) => {
  const scope = compileScope({ resources: { include: [{ kinds: ['rbac.authorization.k8s.io/ClusterRole'] }], exclude: [] } });
  t.false(scope.includes({ group: '', kind: 'Namespace', namespace: undefined, name: 'default', labels: undefined, namespaced: false }));
});

test('handed over (owned), the object is changed in place, and selects still match its labels as it came in', (t) => {
  const transforms = compileTransforms([
    { jsonPatch: [{ op: 'remove', path: '/metadata/labels/app' }, { op: 'add', path: '/metadata/labels/tier', value: 'dr' }] }, // in the labels map itself
    { select: { labelSelector: 'app=web' }, deactivate: {} },
  ] as Transform[]);
  const input = deployment();
  const out = transforms(input, true, true);
  t.is(out, input, 'no copy');
  t.deepEqual(out.metadata.labels, { tier: 'dr' });
  t.is((out.spec as { replicas: number }).replicas, 0, 'the select saw app=web, which the first transform removed');
});
