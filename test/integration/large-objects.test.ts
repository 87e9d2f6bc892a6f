// Objects as large as the API server accepts replicate byte for byte: a 1.4 MiB CRD (a schema with long
// descriptions, like operators publish), a custom resource of 1 MiB, a ConfigMap and a Secret (encrypted on the way)
// of 1 MiB, next to small objects. NATS refuses messages over its max_payload (1 MiB): these travel by reference,
// and no message on a stage subject exceeds what the server announced.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { blobStream, isBlobReference, streams } from '../../src/bus/bus.ts';
import { uniqueName } from '../helpers/sandbox.ts';
import { configMap, createNamespace, demoRecipient, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
});

const MiB = 1024 * 1024;

/** A CRD of about `bytes` as JSON: 400 string properties, each with a long description. */
function largeCrd(group: string, bytes: number) {
  const properties: Record<string, unknown> = { payload: { type: 'string', description: 'Opaque data carried by the resource.' } };
  const count = 400;
  const skeleton = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `bundles.${group}` } };
  const each = Math.floor((bytes - 2000) / count) - 60;
  for (let index = 0; index < count; index++) {
    const words = `Field ${index} of the bundle: ${'configures how the controller reconciles this part of the bundle, with defaults documented upstream; '.repeat(40)}`;
    properties[`field${String(index).padStart(4, '0')}`] = { type: 'string', description: words.slice(0, each) };
  }
  const crd = (description: string) => ({
    ...skeleton,
    spec: {
      group, scope: 'Namespaced', names: { plural: 'bundles', singular: 'bundle', kind: 'Bundle' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', description, properties: { spec: { type: 'object', properties } } } } }],
    },
  });
  // The top-level description makes up the rest, to the byte.
  return crd(`A bundle.${' '.repeat(Math.max(0, bytes - Buffer.byteLength(JSON.stringify(crd('A bundle.')))))}`);
}

type Obj = { spec?: unknown; data?: Record<string, string>; binaryData?: Record<string, string> };

/** JSON with keys sorted (the mirror sorts them): equal strings mean equal content, byte for byte. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item && typeof item === 'object' && !Array.isArray(item)
    ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : item));
}

test('a 1.4 MiB CRD, a 1 MiB custom resource, ConfigMap and Secret arrive byte for byte; stage messages stay under max_payload', async (t) => {
  const ns = uniqueName('large');
  const group = `${uniqueName('g')}.example.com`;
  const handle = await pipeline({
    resources: { include: [{ namespaces: [ns] }, { kinds: ['apiextensions.k8s.io/CustomResourceDefinition'], names: [`bundles.${group}`] }] },
    secrets: { recipients: [demoRecipient] },
  });
  handles.push(handle);
  const { source, destination } = handle;

  const crd = largeCrd(group, Math.round(1.4 * MiB));
  const crdBytes = Buffer.byteLength(JSON.stringify(crd));
  t.is(crdBytes, Math.round(1.4 * MiB), `CRD of ${crdBytes} bytes`);
  await source.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await createNamespace(source, ns);
  await eventually('the CRD served in the source', () => get(source, `/apis/${group}/v1`), (v) => v !== undefined);

  // ConfigMaps and Secrets hold at most 1 MiB of data: most of it binary, the rest multi-byte text.
  const binary = randomBytes(700 * 1024).toString('base64');
  const text = 'Grüße, 世界 🛟\n'.repeat(Math.floor((MiB - 700 * 1024 - 4096) / Buffer.byteLength('Grüße, 世界 🛟\n')));
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { ...configMap('dashboards', { 'dashboard.txt': text }), binaryData: { 'panel.bin': binary } });
  const secretData = { 'bundle.bin': randomBytes(MiB - 8192).toString('base64') };
  await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bundle' }, data: secretData });
  const resourceSpec = { payload: randomBytes(768 * 1024).toString('base64'), field0001: 'small' };
  await source.request('POST', `/apis/${group}/v1/namespaces/${ns}/bundles`, { apiVersion: `${group}/v1`, kind: 'Bundle', metadata: { name: 'large' }, spec: resourceSpec });
  for (const name of ['small-a', 'small-b', 'small-c']) await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(name, { value: name }));
  const resourceBytes = Buffer.byteLength(JSON.stringify(await source.request('GET', `/apis/${group}/v1/namespaces/${ns}/bundles/large`)));
  t.true(resourceBytes > MiB, `custom resource of ${resourceBytes} bytes`);

  const started = Date.now();
  await handle.start();
  const copied = await eventually('the CRD in the destination', () => get<Obj>(destination, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/bundles.${group}`), (c) => c !== undefined, 60_000);
  const sourceSpec = (await source.request<Obj>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/bundles.${group}`)).spec;
  t.true(canonical(copied?.spec) === canonical(sourceSpec), 'the CRD spec, byte for byte');
  const dashboards = await eventually('the ConfigMap', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/dashboards`), (c) => c !== undefined, 60_000);
  t.true(dashboards?.data?.['dashboard.txt'] === text, 'the text, byte for byte');
  t.true(dashboards?.binaryData?.['panel.bin'] === binary, 'the binary data, byte for byte');
  const secret = await eventually('the Secret', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/secrets/bundle`), (s) => s !== undefined, 60_000);
  t.true(secret?.data?.['bundle.bin'] === secretData['bundle.bin'], 'the Secret, decrypted at the destination, byte for byte');
  const resource = await eventually('the custom resource', () => get<Obj>(destination, `/apis/${group}/v1/namespaces/${ns}/bundles/large`), (r) => r !== undefined, 60_000);
  t.true(canonical(resource?.spec) === canonical(resourceSpec), 'the custom resource, byte for byte');
  for (const name of ['small-a', 'small-b', 'small-c']) {
    t.deepEqual((await eventually(name, () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/${name}`), (c) => c !== undefined))?.data, { value: name });
  }
  t.log(`CRD ${crdBytes} bytes (${(crdBytes / MiB).toFixed(2)} MiB), custom resource ${(resourceBytes / MiB).toFixed(2)} MiB, ConfigMap and Secret 1 MiB: replicated in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // Every message of this plan on the stage subjects fits what the server announced; the large ones are references.
  const limit = handle.bus.connection.info!.max_payload;
  const js = jetstream(handle.bus.connection);
  let references = 0;
  for (const stream of Object.values(streams)) {
    const consumer = await js.consumers.get(stream.name, { filter_subjects: [`${stream.subject}.${handle.plan}`] });
    let remaining = (await consumer.info()).num_pending;
    while (remaining > 0) {
      for await (const message of await consumer.fetch({ max_messages: remaining, expires: 5000 })) {
        remaining--;
        t.true(message.data.length <= limit, `${stream.name} #${message.seq}: ${message.data.length} bytes`);
        if (isBlobReference(message.json())) references++;
      }
    }
  }
  // Events and objects for the CRD, the custom resource, the ConfigMap and the Secret.
  t.true(references >= 8, `${references} references`);
  // The Secret was encrypted before it left the listener: its blob holds no plaintext.
  const blobs = await js.consumers.get(blobStream.name, { filter_subjects: [`${blobStream.subject}.${handle.plan}.>`] });
  let remaining = (await blobs.info()).num_pending;
  t.true(remaining >= 8, `${remaining} chunks`);
  const needle = secretData['bundle.bin'].slice(1000, 1100);
  const plainNeedle = Buffer.from(secretData['bundle.bin'], 'base64').subarray(1000, 1100).toString('latin1');
  while (remaining > 0) {
    for await (const message of await blobs.fetch({ max_messages: remaining, expires: 5000 })) {
      remaining--;
      const content = Buffer.from(message.data).toString('latin1');
      t.false(content.includes(needle) || content.includes(plainNeedle), `blob chunk ${message.subject} holds the Secret's plaintext`);
    }
  }
});
