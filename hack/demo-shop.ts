// The demos' shop (npm run demo, npm run demo -- --operator): a small application in the sandbox's source cluster
// (Deployments, Services, ConfigMaps, a Secret, a CRD and a custom resource in demo-shop and demo-payments), and the
// clean-up of an earlier run in both clusters and in Redis.
import type { KubeClient } from '../src/kube/client.ts';
import { KubeError } from '../src/kube/client.ts';
import { waitFor } from '../src/sandbox/process.ts';
import type { StateStore } from '../src/state/state.ts';

export const namespaces = ['demo-shop', 'demo-payments'];

const ignoreExists = (error: unknown) => {
  if (!(error instanceof KubeError && error.code === 409)) throw error;
};

/** Removes the demo namespaces from both clusters (waiting until they are gone) and the demo plan's state. */
export async function cleanDemo(source: KubeClient, destination: KubeClient, state: StateStore): Promise<void> {
  for (const client of [source, destination]) {
    for (const ns of namespaces) await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  }
  for (const ns of namespaces) {
    for (const client of [source, destination]) {
      await waitFor(`namespace ${ns} to go away`, () => client.request('GET', `/api/v1/namespaces/${ns}`).then(() => false, () => true), 120_000, 250);
    }
  }
  await state.forget('demo');
}

/** Deploys the shop into the source; answers its objects. */
export async function deployShop(source: KubeClient): Promise<unknown[]> {
  await source.request('PATCH', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/backuppolicies.demo.lifeboat.dev', {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'backuppolicies.demo.lifeboat.dev' },
    spec: { group: 'demo.lifeboat.dev', scope: 'Namespaced', names: { plural: 'backuppolicies', singular: 'backuppolicy', kind: 'BackupPolicy' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { schedule: { type: 'string' }, keepDays: { type: 'integer' } } } } } } }] },
  }, { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'demo', force: true } });
  await waitFor('the BackupPolicy API', () => source.request('GET', '/apis/demo.lifeboat.dev/v1').then(() => true), 30_000, 200);
  const app = (ns: string, name: string, replicas: number, image: string) => [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns, labels: { app: name } },
      spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image, ports: [{ containerPort: 8080 }] }] } } } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-config`, namespace: ns }, data: { LOG_LEVEL: 'info', FEATURE_CHECKOUT_V2: 'false' } },
  ];
  const objects = [
    ...namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    ...app('demo-shop', 'storefront', 3, 'registry.example.com/shop/storefront:2.4.1'),
    ...app('demo-shop', 'catalog', 2, 'registry.example.com/shop/catalog:1.9.0'),
    ...app('demo-payments', 'payments', 2, 'registry.example.com/shop/payments:3.0.2'),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'payments-db', namespace: 'demo-payments' }, stringData: { username: 'payments', password: 'correct-horse-battery-staple' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'payments', namespace: 'demo-payments' } },
    { apiVersion: 'demo.lifeboat.dev/v1', kind: 'BackupPolicy', metadata: { name: 'nightly', namespace: 'demo-payments' }, spec: { schedule: '0 2 * * *', keepDays: 30 } },
  ];
  const collection = (object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) => {
    const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    const plural = { Namespace: 'namespaces', Deployment: 'deployments', Service: 'services', ConfigMap: 'configmaps', Secret: 'secrets', ServiceAccount: 'serviceaccounts', BackupPolicy: 'backuppolicies' }[object.kind];
    return object.metadata.namespace ? `${base}/namespaces/${object.metadata.namespace}/${plural}` : `${base}/${plural}`;
  };
  for (const object of objects) await source.request('POST', collection(object), object).catch(ignoreExists);
  return objects;
}
