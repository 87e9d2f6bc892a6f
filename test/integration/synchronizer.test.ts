// The synchronizer on its own: a real mirror repository, Redis for its state and the sandbox's destination API
// server. Commits are written here directly, so each test decides exactly which pass carries what.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { mirrorPath, type KubeObject } from '../../src/kube/ref.ts';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { Synchronizer, type PassSummary } from '../../src/pipeline/synchronizer.ts';
import { annotations } from '../../src/pipeline/transforms.ts';
import { StateStore } from '../../src/state/state.ts';
import { silentLogger } from '../../src/util/log.ts';
import { get } from '../helpers/pipeline.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const file = (plan: string, object: KubeObject) => ({
  path: mirrorPath(plan, { group: '', kind: object.kind, name: object.metadata.name!, ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}) }),
  content: stringify(object),
});
const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const configMap = (ns: string, name: string, owner?: string): KubeObject => ({
  apiVersion: 'v1', kind: 'ConfigMap', data: { name },
  metadata: { name, namespace: ns, ...(owner ? { annotations: { [annotations.owners]: JSON.stringify([{ apiVersion: 'v1', kind: 'ConfigMap', name: owner }]) } } : {}) },
});

async function synchronizerFor(t: ExecutionContext, concurrency: number, onPass?: (pass: PassSummary) => void) {
  const info = await sandbox();
  const plan = uniqueName('order');
  const repository = await MirrorRepository.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-order-')), 'mirror.git'));
  const state = await StateStore.connect(info.redisUrl);
  const client = await kube('destination');
  t.teardown(async () => {
    await state.forget(plan);
    await state.close();
    client.close();
  });
  const synchronizer = new Synchronizer({ plan, mirrorDir: plan, repository, client, state, identities: [], concurrency, log: silentLogger, onPass });
  return { plan, repository, state, client, synchronizer };
}

test('a pass that finishes before an earlier one: the applied commit still ends at the newest, and nothing is taken for an orphan', async (t) => {
  const { plan, repository, state, client, synchronizer } = await synchronizerFor(t, 2);
  const ns = uniqueName('order');

  // The first pass is slow: 150 ConfigMaps owned by one applied after them (so each is applied once more at the end,
  // with its owner's destination UID), two applies at a time. The second, planned while the first applies, has one
  // ConfigMap and finishes long before it.
  const owned = Array.from({ length: 150 }, (_, index) => file(plan, configMap(ns, `cm-${index}`, 'zz-owner')));
  await repository.commit([file(plan, namespace(ns)), file(plan, configMap(ns, 'zz-owner')), ...owned], 'first');
  await synchronizer.dispatch();
  const second = await repository.commit([file(plan, configMap(ns, 'late'))], 'second');
  const report = await synchronizer.sync();
  t.is(report.revision, second!.oid);

  const correction = await synchronizer.reconcile('correct');
  t.is(await state.getValue(plan, 'applied-head'), second!.oid, 'the applied commit is the newest, not the one that finished last');
  t.deepEqual(correction.orphaned, [], 'the newer pass\'s objects are not orphans');
  t.truthy(await get(client, `/api/v1/namespaces/${ns}/configmaps/late`), 'the newer pass\'s ConfigMap is still there');
  t.is(correction.checked, 153);
});

test('the reconciler leaves alone what the mirror has in commits after the applied one: on its way, not an orphan', async (t) => {
  const { plan, repository, state, client, synchronizer } = await synchronizerFor(t, 4);
  const ns = uniqueName('pending');
  await repository.commit([file(plan, namespace(ns)), file(plan, configMap(ns, 'first'))], 'first');
  await synchronizer.sync();
  const applied = await state.getValue(plan, 'applied-head');
  // A newer commit whose object is at the destination already (a pass applied it; the applied commit has not moved).
  await repository.commit([file(plan, configMap(ns, 'second'))], 'second');
  await client.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { ...configMap(ns, 'second'), metadata: { name: 'second', labels: { 'lifeboat.dev/plan': plan } } });
  const correction = await synchronizer.reconcile('correct');
  t.is(correction.revision, applied);
  t.deepEqual(correction.orphaned, []);
  t.truthy(await get(client, `/api/v1/namespaces/${ns}/configmaps/second`), 'not deleted');
  // An object in no commit at all is an orphan, and goes.
  await client.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { ...configMap(ns, 'stray'), metadata: { name: 'stray', labels: { 'lifeboat.dev/plan': plan } } });
  t.deepEqual((await synchronizer.reconcile('correct')).orphaned, [`ConfigMap ${ns}/stray`]);
  t.is(await get(client, `/api/v1/namespaces/${ns}/configmaps/stray`), undefined);
});

test('each pass, once recorded, is summarized for benchmarks: its commit, objects, what was applied, deleted and failed', async (t) => {
  const passes: PassSummary[] = [];
  const { plan, repository, synchronizer } = await synchronizerFor(t, 4, (pass) => passes.push(pass));
  const ns = uniqueName('summary');
  const before = Date.now();
  const first = await repository.commit([file(plan, namespace(ns)), file(plan, configMap(ns, 'a')), file(plan, configMap(ns, 'b'))], 'first');
  await synchronizer.sync();
  const second = await repository.commit([file(plan, configMap(ns, 'c')), { path: file(plan, configMap(ns, 'a')).path, content: null }], 'second');
  await synchronizer.sync();
  t.like(passes, [
    { revision: first!.oid, objects: 3, applied: 3, deleted: 0, failed: 0 },
    { revision: second!.oid, objects: 2, applied: 1, deleted: 1, failed: 0 },
  ]);
  for (const pass of passes) {
    t.true(pass.startedAt >= before && pass.durationMs >= 0 && pass.startedAt + pass.durationMs <= Date.now());
  }
});

test('a pass that cannot be planned (Redis closed) fails its caller only: no unhandled rejection; after close() no pass is planned', async (t) => {
  const { repository, state, synchronizer } = await synchronizerFor(t, 2);
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', record);
  t.teardown(() => process.off('unhandledRejection', record));
  await repository.commit([file('x', namespace(uniqueName('closed')))], 'one');
  const other = await StateStore.connect((await sandbox()).redisUrl);
  const closed = new Synchronizer({ plan: 'x', mirrorDir: 'x', repository, client: await kube('destination'), state: other, identities: [], concurrency: 2, log: silentLogger });
  await other.close();
  // The catch-up timer's call: sync() takes `done`; the planning failure must not also surface from `planned`.
  await t.throwsAsync(closed.sync(), { message: /Connection is closed/ });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(unhandled, [], 'nothing unhandled');
  synchronizer.close();
  t.deepEqual(await synchronizer.sync(), { revision: undefined, results: [] }, 'closed: nothing planned');
  t.is(await state.getValue('x', 'applied-head'), undefined);
});
