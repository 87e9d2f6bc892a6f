// The replication pipeline end to end on the sandbox: real source and destination API servers (read-only identity
// on the source), NATS JetStream, Redis and a git mirror. Assertions are what a person would check: the object in
// the destination, the commit in the mirror.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { jetstream } from '@nats-io/jetstream';
import { parseTrailers } from '../../src/mirror/repository.ts';
import { uniqueName } from '../helpers/sandbox.ts';
import { configMap, createNamespace, demoRecipient, deployment, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
});

async function started(spec: Record<string, unknown>): Promise<PipelineHandle> {
  const handle = await pipeline(spec);
  handles.push(handle);
  return handle;
}

type Obj = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; namespace?: string }; spec?: Record<string, unknown>; data?: Record<string, string> };

test('initial sync: namespaces, ConfigMaps, Secrets, Deployments (deactivated) and Services appear in the destination', async (t) => {
  const ns = uniqueName('init');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { recipients: [demoRecipient] } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { color: 'blue' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 's3cret-value' } });
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', 3));
  await source.request('POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }], selector: { app: 'web' } } });
  await handle.start();

  const web = await eventually('the deactivated Deployment', () => get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`), (d) => d !== undefined);
  t.is(web?.spec?.replicas, 0, 'deactivated on the stand-by');
  t.is(web?.metadata.annotations?.['lifeboat.dev/replicas'], '3', 'the original replica count is kept');
  t.is(web?.metadata.labels?.['lifeboat.dev/plan'], handle.plan);
  t.regex(web?.metadata.annotations?.['lifeboat.dev/revision'] ?? '', /^[0-9a-f]{40}$/);
  const settings = await eventually('the ConfigMap', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), (c) => c !== undefined);
  t.deepEqual(settings?.data, { color: 'blue' });
  const secret = await eventually('the Secret', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/secrets/db`), (s) => s !== undefined);
  t.is(Buffer.from(secret?.data?.password ?? '', 'base64').toString(), 's3cret-value', 'decrypted at the destination');
  const service = await eventually('the Service', () => get<{ spec: { clusterIP: string } }>(destination, `/api/v1/namespaces/${ns}/services/web`), (s) => s !== undefined);
  t.regex(service?.spec.clusterIP ?? '', /^10\.0\.1\./, 'the source clusterIP (outside the destination CIDR) was dropped and a new one allocated');

  const message = execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'log', '-1', '--format=%B', 'main'], { encoding: 'utf8' });
  t.regex(message, new RegExp(`^sync\\(${handle.plan}\\): `));
  t.like(parseTrailers(message), { Plan: handle.plan, 'Source-Cluster': 'source' });
  t.truthy(parseTrailers(message)['Plan-Revision']);
});

test('creates, updates and deletes in the source propagate, each with a commit saying what changed', async (t) => {
  const ns = uniqueName('live');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await handle.start();
  const cmPath = `/api/v1/namespaces/${ns}/configmaps/feature`;
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('feature', { enabled: 'false' }));
  await eventually('the create', () => get<Obj>(destination, cmPath), (c) => c?.data?.enabled === 'false');
  await source.request('PATCH', cmPath, { data: { enabled: 'true' } }, { contentType: 'application/merge-patch+json' });
  await eventually('the update', () => get<Obj>(destination, cmPath), (c) => c?.data?.enabled === 'true');
  await source.request('DELETE', cmPath);
  await eventually('the delete', () => get<Obj>(destination, cmPath), (c) => c === undefined);
  const log = execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'log', '--format=%s%n%b', 'main'], { encoding: 'utf8' });
  t.regex(log, new RegExp(`created ConfigMap ${ns}/feature`));
  t.regex(log, new RegExp(`updated ConfigMap ${ns}/feature`));
  t.regex(log, new RegExp(`deleted ConfigMap ${ns}/feature`));
});

test('rapid changes while earlier passes are still applying: the stand-by ends at the source\'s last values, in order', async (t) => {
  const ns = uniqueName('rapid');
  // Commits every 20 ms with at most 5 objects and 2 applies at a time: many passes overlap, and a path is often
  // changed again while an earlier pass still applies it (or has it queued).
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '20ms', maxBatch: 5, concurrency: 2 } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  const names = Array.from({ length: 8 }, (_, index) => `c${index}`);
  await Promise.all(names.map((name) => source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(name, { step: '0' }))));
  await handle.start();
  for (let step = 1; step <= 12; step++) {
    await Promise.all(names.map((name) => source.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, { data: { step: String(step) } }, { contentType: 'application/merge-patch+json' })));
  }
  for (const name of names) {
    const last = await eventually(`${name} at step 12`, () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/${name}`), (c) => c?.data?.step === '12');
    t.is(last?.data?.step, '12');
  }
  const caughtUp = await eventually('the applied commit to reach the mirror head', async () => {
    const [head, applied] = [await handle.mirror.head(), await handle.state.getValue(handle.plan, 'applied-head')];
    return head !== undefined && head === applied;
  }, (done) => done);
  t.true(caughtUp, 'the applied commit advanced (in order) to the mirror head');
  t.deepEqual(await handle.state.failures(handle.plan), [], 'nothing failed');
  t.true(Number(execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'rev-list', '--count', 'main'], { encoding: 'utf8' })) > 5, 'many commits, so many passes');
});

/** Watches a collection at the destination and records the resourceVersion at which each object was added. */
async function additions(client: PipelineHandle['destination'], collection: string, labelSelector: string) {
  const added = new Map<string, bigint>();
  const response = await client.stream(collection, { query: { watch: '1', labelSelector, allowWatchBookmarks: 'false' }, timeoutMs: 120_000 });
  let buffer = '';
  response.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
      const event = JSON.parse(buffer.slice(0, newline)) as { type: string; object: { metadata: { name: string; namespace?: string; resourceVersion: string } } };
      buffer = buffer.slice(newline + 1);
      const { name, namespace, resourceVersion } = event.object.metadata;
      if (event.type === 'ADDED') added.set(namespace ? `${namespace}/${name}` : name, BigInt(resourceVersion));
    }
  }).on('error', () => undefined);
  return { added, close: () => response.destroy() };
}

test('an object is applied after its own Namespace, without waiting for the other Namespaces', async (t) => {
  const namespaces = Array.from({ length: 12 }, () => uniqueName('nsgate'));
  const handle = await started({ resources: { include: [{ namespaces }] }, secrets: { mode: 'exclude' }, sync: { concurrency: 4 } });
  const { source, destination, plan } = handle;
  for (const ns of namespaces) {
    await createNamespace(source, ns);
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(name, { ns }))));
  }
  // One etcd behind the destination API server: resourceVersions of both collections are in one order.
  const createdNamespaces = await additions(destination, '/api/v1/namespaces', `lifeboat.dev/plan=${plan}`);
  const createdConfigMaps = await additions(destination, '/api/v1/configmaps', `lifeboat.dev/plan=${plan}`);
  t.teardown(() => {
    createdNamespaces.close();
    createdConfigMaps.close();
  });
  await handle.start();
  await eventually('60 ConfigMaps seen added', async () => createdConfigMaps.added.size, (n) => n === 60);
  t.is(createdNamespaces.added.size, 12);
  for (const [key, version] of createdConfigMaps.added) {
    const ns = key.split('/')[0]!;
    t.true(version > createdNamespaces.added.get(ns)!, `${key} was created after its Namespace`);
  }
  const lastNamespace = [...createdNamespaces.added.values()].reduce((a, b) => (a > b ? a : b));
  t.log(`${[...createdConfigMaps.added.values()].filter((version) => version < lastNamespace).length} of 60 ConfigMaps were created before the last Namespace`);
});

test('namespace mapping and image rewrite', async (t) => {
  const ns = uniqueName('map');
  const handle = await started({
    resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' },
    transforms: [{ namespaceMapping: { [ns]: `${ns}-dr` } }, { images: [{ from: 'registry.example.com/shop', to: 'dr.example.com/shop' }] }],
  });
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('api', 2));
  await handle.start();
  const api = await eventually('the mapped Deployment', () => get<{ spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } }>(handle.destination, `/apis/apps/v1/namespaces/${ns}-dr/deployments/api`), (d) => d !== undefined);
  t.is(api?.spec.template.spec.containers[0]?.image, 'dr.example.com/shop/web:1.0');
  t.is(api?.spec.replicas, 2, 'no deactivate transform: replicas unchanged');
  t.is(await get(handle.destination, `/api/v1/namespaces/${ns}`), undefined, 'nothing lands in the unmapped namespace');
  t.truthy(await get(handle.destination, `/api/v1/namespaces/${ns}-dr`));
});

test('a CRD and its custom resources: the resources wait for the CRD to be established', async (t) => {
  const ns = uniqueName('crd');
  const group = `${uniqueName('g')}.example.com`;
  const handle = await started({
    resources: { include: [{ namespaces: [ns] }, { kinds: ['apiextensions.k8s.io/CustomResourceDefinition'], names: [`gadgets.${group}`] }] },
    secrets: { mode: 'exclude' },
  });
  const { source, destination } = handle;
  await source.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `gadgets.${group}` },
    spec: { group, scope: 'Namespaced', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }] },
  });
  await createNamespace(source, ns);
  await eventually('the CRD served in the source', () => get(source, `/apis/${group}/v1`), (v) => v !== undefined);
  for (const name of ['a', 'b', 'c']) await source.request('POST', `/apis/${group}/v1/namespaces/${ns}/gadgets`, { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name }, spec: { size: name.charCodeAt(0) } });
  await handle.start();
  const gadget = await eventually('a custom resource in the destination', () => get<{ spec: { size: number } }>(destination, `/apis/${group}/v1/namespaces/${ns}/gadgets/c`), (g) => g !== undefined, 60_000);
  t.is(gadget?.spec.size, 'c'.charCodeAt(0));
  const list = await destination.request<{ items: unknown[] }>('GET', `/apis/${group}/v1/namespaces/${ns}/gadgets`);
  t.is(list.items.length, 3);
});

test('Secrets: ciphertext in the mirror, no plaintext in any git object or JetStream message', async (t) => {
  const ns = uniqueName('sec');
  const plaintext = `pw-${uniqueName('x')}-do-not-leak`;
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] } });
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-key' }, stringData: { token: plaintext } });
  await handle.start();
  const secret = await eventually('the Secret', () => get<Obj>(handle.destination, `/api/v1/namespaces/${ns}/secrets/api-key`), (s) => s !== undefined);
  t.is(Buffer.from(secret?.data?.token ?? '', 'base64').toString(), plaintext);

  const needles = [plaintext, Buffer.from(plaintext).toString('base64')];
  const objects = execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'cat-file', '--batch-all-objects', '--batch'], { maxBuffer: 64 * 2 ** 20 }).toString('latin1');
  for (const needle of needles) t.false(objects.includes(needle), `git objects contain ${needle}`);
  const file = execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'show', `main:${handle.plan}/namespaces/${ns}/Secret/api-key.yaml`], { encoding: 'utf8' });
  t.regex(file, /BEGIN AGE ENCRYPTED FILE/);

  // Every message of this plan in every stream (an ordered consumer filtered to the plan's subject).
  const js = jetstream(handle.bus.connection);
  let scanned = 0;
  for (const [stream, subject] of [['LIFEBOAT_EVENTS', 'lifeboat.events'], ['LIFEBOAT_OBJECTS', 'lifeboat.objects'], ['LIFEBOAT_COMMITS', 'lifeboat.commits']] as const) {
    const consumer = await js.consumers.get(stream, { filter_subjects: [`${subject}.${handle.plan}`] });
    let remaining = (await consumer.info()).num_pending;
    t.true(remaining > 0, `${stream} has messages of this plan`);
    while (remaining > 0) {
      for await (const message of await consumer.fetch({ max_messages: remaining, expires: 5000 })) {
        remaining--;
        scanned++;
        const text = Buffer.from(message.data).toString('latin1');
        for (const needle of needles) t.false(text.includes(needle), `${stream} #${message.seq} contains the plaintext`);
      }
    }
  }
  t.true(scanned >= 3, `scanned ${scanned} messages of this plan`);
});

test('objects without the plan label are never touched', async (t) => {
  const ns = uniqueName('own');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await createNamespace(destination, ns);
  // The destination already has a ConfigMap of the same name, made by someone else, and one lifeboat never saw.
  await destination.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('shared', { owner: 'team-b' }));
  await destination.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('local-only', { owner: 'team-b' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('shared', { owner: 'source' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('replicated', { owner: 'source' }));
  await handle.start();
  await eventually('the replicated ConfigMap', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/replicated`), (c) => c !== undefined);
  await source.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/shared`);
  await eventually('the delete to be processed', async () => (await handle.mirror.files(await handle.mirror.head(), handle.plan)).size, (size) => size === 2);
  await handle.runtime.runners.get(handle.plan)?.status();
  const shared = await get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/shared`);
  t.deepEqual(shared?.data, { owner: 'team-b' }, 'not overwritten and not deleted');
  t.is(shared?.metadata.labels?.['lifeboat.dev/plan'], undefined);
  t.deepEqual((await get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/local-only`))?.data, { owner: 'team-b' });
});

test('a restarted pipeline resumes from its checkpoints without re-committing unchanged objects', async (t) => {
  const ns = uniqueName('resume');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  for (let i = 0; i < 5; i++) await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(`c${i}`, { i: String(i) }));
  await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { k: 'v' } });
  await handle.start();
  await eventually('the initial sync', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/c4`), (c) => c !== undefined);
  const commitsBefore = (await handle.mirror.log()).length;
  await handle.stop();
  // A change while lifeboat is down is picked up from the watch checkpoint.
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('while-down', { x: '1' }));
  await handle.start();
  await eventually('the change made while down', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/while-down`), (c) => c !== undefined);
  const log = await handle.mirror.log();
  t.is(log.length, commitsBefore + 1, 'exactly one new commit: the change made while down');
  t.regex(log[0]?.message ?? '', /1 created/);
  t.notRegex(log[0]?.message ?? '', /Secret/, 'the unchanged Secret is not re-committed despite randomized encryption');
});

test('status and metrics report the plan', async (t) => {
  const ns = uniqueName('stat');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('a', { a: '1' }));
  await handle.start();
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('b', { b: '1' }));
  await eventually('b', () => get(handle.destination, `/api/v1/namespaces/${ns}/configmaps/b`), (c) => c !== undefined);
  const status = await eventually('status in sync', () => handle.runtime.runners.get(handle.plan)!.status(), (s) => s.appliedHead === s.mirrorHead && (s.objectsByKind.ConfigMap ?? 0) === 2);
  t.deepEqual(status.objectsByKind, { ConfigMap: 2, Namespace: 1 });
  t.true(status.kinds.includes('core/v1/configmaps'));
  t.deepEqual(status.lastErrors, []);
  const text = await handle.metrics.registry.metrics();
  t.regex(text, new RegExp(`lifeboat_replication_lag_seconds_count\\{plan="${handle.plan}"\\} [1-9]`));
  t.regex(text, new RegExp(`lifeboat_mirror_commits_total\\{plan="${handle.plan}"\\} [1-9]`));
  t.regex(text, new RegExp(`lifeboat_source_events_total\\{plan="${handle.plan}",type="source.upserted"\\} [1-9]`));
});

test('owner references are re-linked to the owner replicated in the destination', async (t) => {
  const ns = uniqueName('owner');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  const owner = await source.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('owner', { role: 'owner' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { ...configMap('dependent', { role: 'dependent' }),
    metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] } });
  await handle.start();
  const replicatedOwner = await eventually('the owner', () => get<{ metadata: { uid: string } }>(destination, `/api/v1/namespaces/${ns}/configmaps/owner`), (c) => c !== undefined);
  const dependent = await eventually('the dependent', () => get<{ metadata: { ownerReferences?: { uid: string; name: string }[] } }>(destination, `/api/v1/namespaces/${ns}/configmaps/dependent`), (c) => c !== undefined);
  t.not(replicatedOwner?.metadata.uid, owner.metadata.uid, 'UIDs differ between clusters');
  t.deepEqual(dependent?.metadata.ownerReferences?.map((reference) => [reference.name, reference.uid]), [['owner', replicatedOwner?.metadata.uid]]);
});
