// Discovery against the sandbox's real API servers: kinds, plurals and scope; REST paths the server answers; a CRD
// created here appearing on re-discovery; a failing group reported instead of failing everything.
import test from 'ava';
import { KubeError, metadataOnly, type KubeClient } from '../../src/kube/client.ts';
import { discoverResources, ResourceIndex, type DiscoveryClient } from '../../src/kube/discovery.ts';
import { refOf } from '../../src/kube/ref.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { kube, uniqueName } from '../helpers/sandbox.ts';

const clients: KubeClient[] = [];
const client = async (context: Parameters<typeof kube>[0]) => {
  const c = await kube(context);
  clients.push(c);
  return c;
};
test.after.always(() => clients.forEach((c) => c.close()));

const resourceVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

test('discovers built-in kinds with their plurals, scope and verbs', async (t) => {
  const index = await ResourceIndex.discover(await client('source'));
  t.deepEqual(index.byKind('', 'ConfigMap'), { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, verbs: resourceVerbs });
  t.deepEqual(index.byKind('apps', 'Deployment'), { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, verbs: resourceVerbs });
  t.like(index.byKind('', 'Namespace'), { group: '', version: 'v1', plural: 'namespaces', namespaced: false });
  t.like(index.byKind('apiextensions.k8s.io', 'CustomResourceDefinition'), { version: 'v1', plural: 'customresourcedefinitions', namespaced: false });
  t.like(index.byKind('autoscaling', 'HorizontalPodAutoscaler'), { version: 'v2', plural: 'horizontalpodautoscalers' }, 'the preferred version');
  t.is(index.byKind('apps', 'ConfigMap'), undefined);
  t.false(index.resources.some((resource) => resource.plural.includes('/')), 'no subresources');
  t.deepEqual(index.failedGroups.filter((failure) => failure.groupVersion.endsWith('.k8s.io/v1') || !failure.groupVersion.includes('.')), []);

  const watchable = index.listWatchable();
  t.true(watchable.some((resource) => resource.kind === 'Secret'));
  t.false(watchable.some((resource) => resource.kind === 'TokenReview'), 'create-only kinds cannot be watched');
  t.false(watchable.some((resource) => resource.kind === 'ComponentStatus'), 'get/list-only kinds cannot be watched');
});

test('a read-only identity can discover', async (t) => {
  const { resources, failedGroups } = await discoverResources(await client('source-reader'));
  t.true(resources.some((resource) => resource.group === 'apps' && resource.kind === 'StatefulSet'));
  t.deepEqual(failedGroups.filter((failure) => !failure.groupVersion.includes('.example.com')), []);
});

test('REST paths are exact and the server answers them', async (t) => {
  const api = await client('source');
  const index = await ResourceIndex.discover(api);
  const namespace = uniqueName('disc');
  t.is(index.path({ group: '', kind: 'ConfigMap' }, { namespace: 'shop', name: 'web' }), '/api/v1/namespaces/shop/configmaps/web');
  t.is(index.path({ group: 'apps', kind: 'Deployment' }, { namespace: 'shop' }), '/apis/apps/v1/namespaces/shop/deployments');
  t.is(index.path({ group: 'apps', kind: 'Deployment' }), '/apis/apps/v1/deployments');
  t.is(index.path({ group: '', kind: 'Namespace' }, { name: 'shop' }), '/api/v1/namespaces/shop');
  t.is(index.path({ group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler' }, { namespace: 'a' }), '/apis/autoscaling/v1/namespaces/a/horizontalpodautoscalers');
  t.is(index.objectPath({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:aggregate-to-edit' }),
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aaggregate-to-edit');
  t.throws(() => index.path({ group: '', kind: 'Namespace' }, { namespace: 'shop', name: 'x' }), { message: /Namespace is cluster-scoped: a path for it takes no namespace/ });
  t.throws(() => index.objectPath({ group: 'apps', kind: 'Deployment', name: 'web' }), { message: /Deployment.apps web: Deployment is namespaced: the path of Deployment "web" needs a namespace/ });
  t.throws(() => index.path({ group: 'example.invalid', kind: 'Nope' }), { message: 'the cluster does not serve kind Nope in group example.invalid (is its CRD installed?)' });

  try {
    await api.request('POST', index.path({ group: '', kind: 'Namespace' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    const created = await api.request<{ apiVersion: string; kind: string; metadata: { name: string; namespace: string } }>(
      'POST', index.path({ group: '', kind: 'ConfigMap' }, { namespace }), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } });
    const fetched = await api.request<{ data: Record<string, string> }>('GET', index.objectPath(refOf(created)));
    t.deepEqual(fetched.data, { a: '1' });
    const deployments = await api.request<{ kind: string; items: unknown[] }>('GET', index.path({ group: 'apps', kind: 'Deployment' }, { namespace }));
    t.is(deployments.kind, 'DeploymentList');
    t.deepEqual(deployments.items, []);
  } finally {
    await api.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  }
});

test('a CRD created after discovery shows up on re-discovery', async (t) => {
  const api = await client('source');
  const group = `${uniqueName('disc')}.example.com`;
  const crdName = `gadgets.${group}`;
  const before = await ResourceIndex.discover(api);
  t.is(before.byKind(group, 'Gadget'), undefined);
  try {
    await api.request('POST', before.path({ group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition' }), {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: crdName },
      spec: {
        group, scope: 'Cluster', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
        versions: [
          { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
          { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
        ],
      },
    });
    let after = before;
    // The API server's discovery converges on the preferred version (v1 outranks v1beta1) shortly after creation.
    await waitFor('the Gadget kind to be discovered at its preferred version', async () => {
      after = await ResourceIndex.discover(api);
      return after.byKind(group, 'Gadget')?.version === 'v1';
    }, 30_000, 250);
    t.deepEqual(after.byKind(group, 'Gadget'), { group, version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: false, verbs: resourceVerbs });
    t.true(after.listWatchable().some((resource) => resource.group === group));
    t.is(after.path({ group, kind: 'Gadget' }, { name: 'g1' }), `/apis/${group}/v1/gadgets/g1`);
    await api.request('POST', after.path({ group, kind: 'Gadget' }), { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' } });
    const gadget = await api.request<{ metadata: { name: string } }>('GET', after.objectPath({ group, version: 'v1', kind: 'Gadget', name: 'g1' }));
    t.is(gadget.metadata.name, 'g1');
  } finally {
    await api.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`).catch(() => undefined);
  }
});

test('a group that fails to answer is skipped and reported, the rest is discovered', async (t) => {
  const api = await client('source');
  // An aggregated API whose backend is down answers 503 for its group version; simulate that for apps/v1.
  const flaky: DiscoveryClient = {
    request: <T>(method: string, path: string) => {
      if (path === '/apis/apps/v1') return Promise.reject(new KubeError('GET /apis/apps/v1: 503 service unavailable', 503, 'ServiceUnavailable'));
      return api.request<T>(method, path);
    },
  };
  const index = await ResourceIndex.discover(flaky);
  t.deepEqual(index.failedGroups.filter((failure) => failure.groupVersion === 'apps/v1'), [{ groupVersion: 'apps/v1', message: 'GET /apis/apps/v1: 503 service unavailable' }]);
  t.is(index.byKind('apps', 'Deployment'), undefined);
  t.like(index.byKind('batch', 'Job'), { plural: 'jobs' });
  t.like(index.byKind('', 'ConfigMap'), { plural: 'configmaps' });
  t.throws(() => index.path({ group: 'apps', kind: 'Deployment' }), {
    message: 'the cluster does not serve kind Deployment in group apps (discovery of apps/v1 failed: GET /apis/apps/v1: 503 service unavailable)',
  });

  // Without the core API or the group list there is nothing to go on: that is an error.
  const down: DiscoveryClient = { request: () => Promise.reject(new KubeError('GET /api/v1: connection refused', 0, 'ECONNREFUSED')) };
  await t.throwsAsync(discoverResources(down), { message: /connection refused/ });
});

test('a metadata-only list of an empty collection is an empty page (the server sends items: null)', async (t) => {
  const writer = await client('destination-writer');
  const index = await ResourceIndex.discover(writer);
  const type = index.byKind('', 'ConfigMap')!;
  const pages = [];
  for await (const page of writer.listPages(index.path(type, { namespace: uniqueName('empty') }), type, { labelSelector: 'nothing=here' }, 500, metadataOnly)) pages.push(page);
  t.is(pages.length, 1);
  t.deepEqual(pages[0]!.items, []);
});
