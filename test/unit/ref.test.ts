// Object identity: refs from objects, stable keys, and the mirror path codec (exact inverses, hostile names refused).
import test from 'ava';
import {
  apiVersionOf, describeRef, mirrorPath, parseApiVersion, refFromKey, refFromMirrorPath, refKey, refOf, type ObjectRef, type UnversionedRef,
} from '../../src/kube/ref.ts';

const refs: { ref: ObjectRef; apiVersion: string; key: string; path: string; described: string }[] = [
  {
    ref: { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'settings' },
    apiVersion: 'v1', key: '/ConfigMap/shop/settings', path: 'prod/namespaces/shop/ConfigMap/settings.yaml', described: 'ConfigMap shop/settings',
  },
  {
    ref: { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    apiVersion: 'apps/v1', key: 'apps/Deployment/shop/web', path: 'prod/namespaces/shop/Deployment.apps/web.yaml', described: 'Deployment.apps shop/web',
  },
  {
    ref: { group: '', version: 'v1', kind: 'Namespace', name: 'shop' },
    apiVersion: 'v1', key: '/Namespace//shop', path: 'prod/cluster/Namespace/shop.yaml', described: 'Namespace shop',
  },
  {
    ref: { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' },
    apiVersion: 'apiextensions.k8s.io/v1', key: 'apiextensions.k8s.io/CustomResourceDefinition//widgets.example.com',
    path: 'prod/cluster/CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com.yaml',
    described: 'CustomResourceDefinition.apiextensions.k8s.io widgets.example.com',
  },
  {
    ref: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', name: 'system:aggregate-to-edit' },
    apiVersion: 'rbac.authorization.k8s.io/v1', key: 'rbac.authorization.k8s.io/ClusterRole//system:aggregate-to-edit',
    path: 'prod/cluster/ClusterRole.rbac.authorization.k8s.io/system:aggregate-to-edit.yaml',
    described: 'ClusterRole.rbac.authorization.k8s.io system:aggregate-to-edit',
  },
  {
    ref: { group: 'widgets.example.com', version: 'v1beta2', kind: 'Widget', namespace: 'team-a', name: 'big.one.yaml' },
    apiVersion: 'widgets.example.com/v1beta2', key: 'widgets.example.com/Widget/team-a/big.one.yaml',
    path: 'prod/namespaces/team-a/Widget.widgets.example.com/big.one.yaml.yaml', described: 'Widget.widgets.example.com team-a/big.one.yaml',
  },
];

for (const { ref, apiVersion, key, path, described } of refs) {
  test(`identity of ${described}`, (t) => {
    const object = { apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), uid: 'x' } };
    t.deepEqual(refOf(object), ref);
    t.is(apiVersionOf(ref), apiVersion);
    t.is(refKey(ref), key);
    t.is(describeRef(ref), described);
    const { version: _version, ...unversioned } = ref;
    t.deepEqual(refFromKey(key), unversioned);
    t.is(mirrorPath('prod', ref), path);
    t.deepEqual(refFromMirrorPath(path), { plan: 'prod', ref: unversioned });
    t.is(mirrorPath('prod', refFromMirrorPath(path).ref), path);
  });
}

test('keys do not depend on the version and never collide across scope or group', (t) => {
  t.is(refKey({ group: 'autoscaling', kind: 'HorizontalPodAutoscaler', namespace: 'a', name: 'b' }),
    refKey({ group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler', namespace: 'a', name: 'b' } as ObjectRef));
  const distinct: UnversionedRef[] = [
    { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'web' },
    { group: 'ConfigMap', kind: 'shop', name: 'web' },
    { group: '', kind: 'ConfigMap', name: 'shop' },
    { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' },
  ];
  t.is(new Set(distinct.map(refKey)).size, distinct.length);
});

test('an empty namespace in an object means cluster-scoped', (t) => {
  t.deepEqual(refOf({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', namespace: '' } }), { group: '', version: 'v1', kind: 'Node', name: 'n1' });
});

test('apiVersion parsing', (t) => {
  t.deepEqual(parseApiVersion('v1'), { group: '', version: 'v1' });
  t.deepEqual(parseApiVersion('networking.k8s.io/v1'), { group: 'networking.k8s.io', version: 'v1' });
  for (const bad of ['', '/v1', 'apps/', 'a/b/c']) t.throws(() => parseApiVersion(bad), { message: /invalid apiVersion/ }, bad);
});

test('objects without an identity are refused with what is missing', (t) => {
  const cases: unknown[] = [
    { kind: 'ConfigMap', metadata: { name: 'a' } },
    { apiVersion: 'v1', metadata: { name: 'a' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'a-' } },
    { apiVersion: 'v1', kind: 'ConfigMap' },
  ];
  for (const object of cases) t.throws(() => refOf(object as Parameters<typeof refOf>[0]), { message: /object has no identity/ }, JSON.stringify(object));
});

test('mirror paths refuse segments that would escape or split a directory', (t) => {
  const base = { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'web' };
  const cases: [string, UnversionedRef, RegExp][] = [
    ['..', base, /plan "\.\." is a relative directory name/],
    ['a/b', base, /plan "a\/b" contains a path separator/],
    ['', base, /plan "" is empty/],
    ['prod', { ...base, name: '../../etc' }, /name .* contains a path separator/],
    ['prod', { ...base, name: '..' }, /name "\.\." is a relative directory name/],
    ['prod', { ...base, name: 'a\\b' }, /name .* contains a path separator/],
    ['prod', { ...base, namespace: 'x/y' }, /namespace "x\/y" contains a path separator/],
    ['prod', { ...base, namespace: '' }, /namespace "" is empty/],
    ['prod', { ...base, kind: 'Config.Map' }, /kind "Config.Map" contains a dot/],
    ['prod', { ...base, group: 'a/b' }, /group "a\/b" contains a path separator/],
  ];
  for (const [plan, ref, message] of cases) t.throws(() => mirrorPath(plan, ref), { message }, `${plan} ${JSON.stringify(ref)}`);
});

test('paths that are not mirror paths are refused', (t) => {
  const cases = [
    'README.md',
    'prod/namespaces/shop/ConfigMap/web.yml',
    'prod/namespaces/shop/ConfigMap/web',
    'prod/namespaces/shop/ConfigMap/.yaml',
    'prod/cluster/Namespace/shop/extra.yaml',
    'prod/namespaces/ConfigMap/web.yaml',
    'prod/things/shop/ConfigMap/web.yaml',
    'prod/namespaces/../ConfigMap/web.yaml',
    'prod/cluster/Widget./w.yaml',
    'prod/cluster/Widget.a\\b/w.yaml',
    '/cluster/Namespace/shop.yaml',
  ];
  for (const path of cases) t.throws(() => refFromMirrorPath(path), { message: /is not a lifeboat mirror path/ }, path);
});
