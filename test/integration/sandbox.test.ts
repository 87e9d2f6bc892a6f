// Smoke tests that prove the sandbox is made of real components: real API servers with their controllers, RBAC,
// CRDs, namespace deletion, NATS JetStream and Redis.
import test from 'ava';
import { AckPolicy } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { Bus, streams } from '../../src/bus/bus.ts';
import { KubeError, type KubeClient } from '../../src/kube/client.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';
import { waitFor } from '../../src/sandbox/process.ts';

const clients: KubeClient[] = [];
const client = async (context: Parameters<typeof kube>[0]) => {
  const c = await kube(context);
  clients.push(c);
  return c;
};
test.after.always(() => clients.forEach((c) => c.close()));

async function createNamespace(api: KubeClient, name: string) {
  await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

test('both API servers answer /version with Kubernetes 1.36 or newer', async (t) => {
  for (const context of ['source', 'destination'] as const) {
    const version = await (await client(context)).request<{ major: string; minor: string; gitVersion: string }>('GET', '/version');
    t.is(version.major, '1');
    t.true(Number.parseInt(version.minor, 10) >= 36, `${context} runs ${version.gitVersion}`);
  }
});

test('source and destination are separate clusters with different service CIDRs', async (t) => {
  const ns = uniqueName('cidr');
  const ips: Record<string, string> = {};
  for (const context of ['source', 'destination'] as const) {
    const api = await client(context);
    await createNamespace(api, ns);
    const service = await api.request<{ spec: { clusterIP: string } }>('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }], selector: { app: 'web' } },
    });
    ips[context] = service.spec.clusterIP;
  }
  t.regex(ips.source ?? '', /^10\.0\.0\./);
  t.regex(ips.destination ?? '', /^10\.0\.1\./);
});

test('a Deployment in the source gets a ReplicaSet from kube-controller-manager', async (t) => {
  const api = await client('source');
  const ns = uniqueName('deploy');
  await createNamespace(api, ns);
  await api.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
  });
  let replicaSets: { metadata: { ownerReferences?: { kind: string; name: string }[] } }[] = [];
  await waitFor('a ReplicaSet', async () => {
    replicaSets = (await api.request<{ items: typeof replicaSets }>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`)).items;
    return replicaSets.length > 0;
  }, 60_000, 250);
  t.is(replicaSets[0]?.metadata.ownerReferences?.[0]?.kind, 'Deployment');
  t.is(replicaSets[0]?.metadata.ownerReferences?.[0]?.name, 'web');
});

test('source-reader can list and watch but gets 403 on create', async (t) => {
  const reader = await client('source-reader');
  const list = await reader.request<{ items: unknown[] }>('GET', '/api/v1/namespaces');
  t.true(list.items.length > 0);
  const stream = await reader.stream('/api/v1/namespaces', { query: { watch: true, timeoutSeconds: 5 } });
  const first = await new Promise<string>((resolve, reject) => {
    stream.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    stream.once('error', reject);
  });
  stream.destroy();
  t.is(JSON.parse(first.split('\n')[0] ?? '{}').type, 'ADDED');
  const error = await t.throwsAsync(reader.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: uniqueName('nope') } }));
  t.true(error instanceof KubeError);
  t.is((error as KubeError).code, 403);
  const secretError = await t.throwsAsync(reader.request('DELETE', '/api/v1/namespaces/default'));
  t.is((secretError as KubeError).code, 403);
});

test('destination-writer can create objects in the destination', async (t) => {
  const writer = await client('destination-writer');
  const ns = uniqueName('writer');
  await createNamespace(writer, ns);
  const created = await writer.request<{ metadata: { name: string } }>('POST', `/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' },
  });
  t.is(created.metadata.name, 'settings');
});

test('a CRD becomes Established and a custom resource of it is stored', async (t) => {
  const api = await client('source');
  const group = `${uniqueName('g')}.example.com`;
  await api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${group}` },
    spec: { group, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: {
        spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }] },
  });
  await waitFor('the CRD to be Established', async () => {
    const crd = await api.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`);
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  }, 30_000, 200);
  await waitFor('the new API to be served', () => api.request('GET', `/apis/${group}/v1`).then(() => true), 30_000, 200);
  await api.request('POST', `/apis/${group}/v1/namespaces/default/widgets`, { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } });
  const stored = await api.request<{ spec: { size: number } }>('GET', `/apis/${group}/v1/namespaces/default/widgets/w1`);
  t.is(stored.spec.size, 3);
});

test('a deleted namespace and its objects go away', async (t) => {
  const api = await client('source');
  const ns = uniqueName('gone');
  await createNamespace(api, ns);
  await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } });
  await api.request('DELETE', `/api/v1/namespaces/${ns}`);
  await waitFor('the namespace to be removed', () => api.request('GET', `/api/v1/namespaces/${ns}`).then(() => false, (e: KubeError) => e.code === 404), 60_000, 250);
  t.pass();
});

test('JetStream keeps, de-duplicates and delivers what lifeboat\'s user publishes', async (t) => {
  const info = await sandbox();
  // As lifeboat's own user (its streams and subjects are all it may use); connecting makes sure the streams exist.
  const bus = await Bus.connect(info.natsUrl);
  const { js, jsm } = bus;
  const subject = `${streams.events.subject}.${uniqueName('smoke')}`;
  const durable = uniqueName('reader');
  try {
    const first = await js.publish(subject, 'one', { msgID: `${subject}:m1` });
    const again = await js.publish(subject, 'one', { msgID: `${subject}:m1` });
    t.true(again.duplicate);
    t.is(again.seq, first.seq);
    await js.publish(subject, 'two', { msgID: `${subject}:m2` });
    await jsm.consumers.add(streams.events.name, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: subject });
    const consumer = await js.consumers.get(streams.events.name, durable);
    const received: string[] = [];
    for (let i = 0; i < 2; i++) {
      const message = await consumer.next({ expires: 5000 });
      if (message) {
        received.push(message.string());
        message.ack();
      }
    }
    t.deepEqual(received, ['one', 'two']);
  } finally {
    await jsm.consumers.delete(streams.events.name, durable).catch(() => false);
    await jsm.streams.purge(streams.events.name, { filter: subject }).catch(() => undefined);
    await bus.close();
  }
});

test('Redis answers and keeps what it is given', async (t) => {
  const info = await sandbox();
  const redis = new Redis(info.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  try {
    t.is(await redis.ping(), 'PONG');
    const key = `lifeboat:test:${uniqueName('k')}`;
    await redis.set(key, 'v', 'EX', 60);
    t.is(await redis.get(key), 'v');
  } finally {
    redis.disconnect();
  }
});
