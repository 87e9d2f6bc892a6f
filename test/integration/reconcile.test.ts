// The reconciler and the delete guard on the sandbox: drift at the stand-by corrected (or only reported), deletes
// missed while the listener was down (its watch expired) found, and mass deletes held until a person decides.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubeClient } from '../../src/kube/client.ts';
import type { PlanRunner } from '../../src/runtime/plan-runner.ts';
import type { StateValue } from '../../src/state/state.ts';
import { configMap, createNamespace, demoRecipient, deployment, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close()));
});

async function started(spec: Record<string, unknown>): Promise<PipelineHandle> {
  const handle = await pipeline(spec);
  handles.push(handle);
  await handle.start();
  return handle;
}

const runner = (handle: PipelineHandle): PlanRunner => handle.runtime.runners.get(handle.plan)!;
type Obj = { metadata: { labels?: Record<string, string>; resourceVersion?: string }; spec?: { replicas?: number }; data?: Record<string, string> };
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

async function createConfigMaps(client: KubeClient, ns: string, count: number, prefix = 'cm'): Promise<void> {
  for (let start = 0; start < count; start += 25) {
    await Promise.all(Array.from({ length: Math.min(25, count - start) }, (_, index) => client.request('POST', cmPath(ns), configMap(`${prefix}-${start + index}`, { n: String(start + index) }))));
  }
}

async function configMapNames(client: KubeClient, ns: string, selector?: string): Promise<string[]> {
  const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', cmPath(ns), undefined, { query: { labelSelector: selector } });
  return list.items.map((item) => item.metadata.name).filter((name) => name !== 'kube-root-ca.crt').sort();
}

test('drift at the stand-by is corrected: an edited field, a scaled-up workload, a deleted object and an orphan', async (t) => {
  const ns = uniqueName('drift');
  const source = await kube('source');
  t.teardown(() => source.close());
  await createNamespace(source, ns);
  await source.request('POST', cmPath(ns), configMap('settings', { mode: 'safe', level: '1' }));
  await source.request('POST', cmPath(ns), configMap('gone', { a: '1' }));
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', 3));
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { mode: 'exclude' } });
  const { destination, plan } = handle;
  await eventually('the Deployment at the stand-by', () => get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`), (d) => d?.spec?.replicas === 0);

  // Someone edits the stand-by by hand.
  const settings = (await get<Obj>(destination, cmPath(ns, 'settings')))!;
  await destination.request('PUT', cmPath(ns, 'settings'), { ...settings, data: { mode: 'edited', level: '1' } });
  await destination.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web`, { spec: { replicas: 2 } }, { contentType: 'application/merge-patch+json' });
  await destination.request('DELETE', cmPath(ns, 'gone'));
  await destination.request('POST', cmPath(ns), { ...configMap('orphan', { x: '1' }, { 'lifeboat.dev/plan': plan }) });
  await destination.request('POST', cmPath(ns), configMap('someone-elses', { x: '1' }));

  const report = await runner(handle).reconcile();
  t.false('error' in report.destination, JSON.stringify(report.destination));
  if ('error' in report.destination) return;
  t.deepEqual(report.destination.drifted.map((d) => d.object).sort(), [`ConfigMap ${ns}/settings`, `Deployment.apps ${ns}/web`].sort());
  t.deepEqual(report.destination.drifted.find((d) => d.object.endsWith('settings'))?.fields, ['data.mode']);
  t.deepEqual(report.destination.drifted.find((d) => d.object.endsWith('web'))?.fields, ['spec.replicas']);
  t.deepEqual(report.destination.missing, [`ConfigMap ${ns}/gone`]);
  t.deepEqual(report.destination.orphaned, [`ConfigMap ${ns}/orphan`]);
  t.is(report.destination.corrected, 4);

  t.deepEqual((await get<Obj>(destination, cmPath(ns, 'settings')))?.data, { level: '1', mode: 'safe' });
  t.is((await get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`))?.spec?.replicas, 0, 'asleep again');
  t.truthy(await get(destination, cmPath(ns, 'gone')));
  t.is(await get(destination, cmPath(ns, 'orphan')), undefined);
  t.truthy(await get(destination, cmPath(ns, 'someone-elses')), 'objects without the plan label are never touched');

  // Nothing left to find; and status shows the last reconcile.
  const again = await runner(handle).reconcile();
  t.deepEqual('error' in again.destination ? again.destination : [again.destination.drifted, again.destination.missing, again.destination.orphaned], [[], [], []]);
  const status = await runner(handle).status();
  t.is(status.reconcile?.drift, 'correct');
  t.is(status.reconcile?.drifted.length, 0);
  const metrics = await handle.metrics.registry.metrics();
  t.regex(metrics, new RegExp(`lifeboat_reconcile_corrections_total\\{plan="${plan}",action="destination"\\} 4`));
});

test('drift: detect reports the drift and leaves the stand-by as it is', async (t) => {
  const ns = uniqueName('detect');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' }, reconcile: { drift: 'detect' } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await source.request('POST', cmPath(ns), configMap('settings', { mode: 'safe' }));
  const settings = await eventually('the ConfigMap at the stand-by', () => get<Obj>(destination, cmPath(ns, 'settings')), (cm) => cm !== undefined);
  await destination.request('PUT', cmPath(ns, 'settings'), { ...settings, data: { mode: 'edited' } });

  const report = await runner(handle).reconcile();
  if ('error' in report.destination) return t.fail(report.destination.error);
  t.deepEqual(report.destination.drifted, [{ object: `ConfigMap ${ns}/settings`, fields: ['data.mode'] }]);
  t.is(report.destination.corrected, 0);
  t.deepEqual((await get<Obj>(destination, cmPath(ns, 'settings')))?.data, { mode: 'edited' }, 'detect never writes');
  const metrics = await handle.metrics.registry.metrics();
  t.regex(metrics, new RegExp(`lifeboat_drift_objects\\{plan="${handle.plan}",kind="drifted"\\} 1`));
});

test('deletes and changes missed while lifeboat was down, behind an expired watch (410), are found by the reconciler', async (t) => {
  const ns = uniqueName('gap');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  const { source, destination, plan, state } = handle;
  await createNamespace(source, ns);
  await createConfigMaps(source, ns, 6);
  await eventually('6 ConfigMaps at the stand-by', () => configMapNames(destination, ns), (names) => names.length === 6);

  await handle.stop();
  await source.request('DELETE', cmPath(ns, 'cm-1'));
  await source.request('DELETE', cmPath(ns, 'cm-2'));
  const cm3 = (await get<Obj>(source, cmPath(ns, 'cm-3')))!;
  await source.request('PUT', cmPath(ns, 'cm-3'), { ...cm3, data: { n: 'changed while down' } });
  // Every watch resumes from a resourceVersion long compacted away: the API server answers 410 Gone, the
  // listener lists again — and a list shows no deletes.
  const checkpoints = await state.checkpoints(plan);
  t.true(Object.keys(checkpoints).length > 0);
  for (const resource of Object.keys(checkpoints)) await state.saveCheckpoint(plan, resource, '1');

  await handle.start();
  await eventually('the deletes at the stand-by', () => configMapNames(destination, ns), (names) => names.join() === 'cm-0,cm-3,cm-4,cm-5', 60_000);
  t.deepEqual((await get<Obj>(destination, cmPath(ns, 'cm-3')))?.data, { n: 'changed while down' });
  const log = await handle.mirror.log(5);
  t.true(log.some((entry) => /deleted ConfigMap .*cm-1/.test(entry.message) && /deleted ConfigMap .*cm-2/.test(entry.message)), 'one commit names the deletes');
});

test('the delete guard holds a deleted namespace (200 objects) until approved, then removes exactly those objects', async (t) => {
  const info = await sandbox();
  const [doomed, kept] = [uniqueName('doomed'), uniqueName('kept')];
  const handle = await started({ resources: { include: [{ namespaces: [doomed, kept] }] }, secrets: { mode: 'exclude' } });
  const { source, destination, plan, state } = handle;
  await createNamespace(source, doomed);
  await createNamespace(source, kept);
  await createConfigMaps(source, doomed, 200);
  await createConfigMaps(source, kept, 5);
  await eventually('205 ConfigMaps at the stand-by', async () => (await configMapNames(destination, doomed)).length + (await configMapNames(destination, kept)).length, (n) => n === 205, 90_000);
  const headBefore = await handle.mirror.head();

  await source.request('DELETE', `/api/v1/namespaces/${doomed}`);
  await eventually('the namespace gone from the source', () => get(source, `/api/v1/namespaces/${doomed}`), (ns) => ns === undefined, 90_000);
  const held = await eventually('201 held deletes', () => state.heldDeletes(plan), (entries) => entries.length === 201, 30_000);
  t.true(held.some((entry) => entry.summary === `Namespace ${doomed}` && entry.reason === `namespace ${doomed} is being deleted in the source`));
  t.is(await handle.mirror.head(), headBefore, 'nothing was committed');
  t.is((await configMapNames(destination, doomed)).length, 200, 'the stand-by is untouched');

  const env = { ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl };
  const list = await promisify(execFile)(process.execPath, [cli, 'deletes', 'list', plan], { env });
  t.regex(list.stdout, new RegExp(`Namespace ${doomed}\\s+\\S+\\s+namespace ${doomed} is being deleted in the source`));
  t.regex(list.stdout, /201 deletes held/);
  const status = await runner(handle).status();
  t.is(status.heldDeletes, 201);

  const approve = await promisify(execFile)(process.execPath, [cli, 'deletes', 'approve', plan, '--all'], { env });
  t.regex(approve.stdout, /approved 201 deletes/);
  await eventually('the namespace gone from the stand-by', () => get(destination, `/api/v1/namespaces/${doomed}`), (ns) => ns === undefined, 90_000);
  t.deepEqual(await configMapNames(destination, kept), ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4']);
  t.deepEqual(await state.heldDeletes(plan), []);
  const files = [...(await handle.mirror.files(await handle.mirror.head(), plan)).keys()];
  t.false(files.some((file) => file.includes(`/${doomed}/`) || file.endsWith(`/${doomed}.yaml`)));
  t.is(files.filter((file) => file.includes(`/${kept}/ConfigMap/`)).length, 5);
});

test('a burst of deletes above maxPercent is held; rejected deletes keep the objects and are not held again', async (t) => {
  const info = await sandbox();
  const ns = uniqueName('burst');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' }, deletes: { guard: { maxPercent: 20, minDeletes: 3, namespaces: true } } });
  const { source, destination, plan, state } = handle;
  await createNamespace(source, ns);
  await createConfigMaps(source, ns, 20);
  await eventually('20 ConfigMaps at the stand-by', () => configMapNames(destination, ns), (names) => names.length === 20);
  // One delete is within the guard and propagates.
  await source.request('DELETE', cmPath(ns, 'cm-19'));
  await eventually('cm-19 gone from the stand-by', () => get(destination, cmPath(ns, 'cm-19')), (cm) => cm === undefined);

  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((index) => source.request('DELETE', cmPath(ns, `cm-${index}`))));
  // 20 % of 21 objects is 4 deletes a minute: cm-19 and at most three more pass (batches decide which); the rest
  // are held.
  const inMirror = async () => (await handle.mirror.files(await handle.mirror.head(), plan)).size;
  const before = 21 - 1;
  await eventually('every delete committed or held', async () => (before - (await inMirror())) + (await state.heldDeletes(plan)).length, (n) => n === 8);
  const held = await state.heldDeletes(plan);
  t.true(held.length >= 5, `${held.length} held`);
  // The guard judges against the plan's objects at that moment: 20, less the deletes committed before (up to three).
  t.regex(held.at(-1)!.reason, /deletes within 60s exceed 20% of the plan's (1[7-9]|20) objects|the delete guard is tripped/);
  const env = { ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl };
  const reject = await promisify(execFile)(process.execPath, [cli, 'deletes', 'reject', plan, '--all'], { env });
  t.regex(reject.stdout, new RegExp(`rejected ${held.length} deletes`));
  const kept = 19 - (8 - held.length);
  await eventually('the stand-by after the committed deletes', () => configMapNames(destination, ns), (names) => names.length === kept);

  // The reconciler sees them missing from the source again: the guard drops those deletes instead of holding them.
  const report = await runner(handle).reconcile();
  if ('error' in report.source) return t.fail(report.source.error);
  t.is(report.source.deleted.length, held.length);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.deepEqual(await state.heldDeletes(plan), []);
  t.is((await configMapNames(destination, ns)).length, kept, 'the stand-by keeps the objects whose deletes were rejected');
  t.is(await inMirror(), kept + 1, 'and so does the mirror');
  const back = held[0]!.summary.split('/').at(-1)!;
  // Re-created in the source, an object is ordinary again: its next delete is judged afresh.
  await source.request('POST', cmPath(ns), configMap(back, { n: 'back' }));
  await eventually('the re-created object at the stand-by', () => get<Obj>(destination, cmPath(ns, back)), (cm) => cm?.data?.n === 'back');
  t.false((await state.rejectedDeletes(plan)).has(`${plan}/namespaces/${ns}/ConfigMap/${back}.yaml`));
});

test('an unchanged plan reconciles to nothing: no object republished (Secrets compared by keyed hash), no drift', async (t) => {
  const ns = uniqueName('steady');
  const source = await kube('source');
  t.teardown(() => source.close());
  await createNamespace(source, ns);
  await createConfigMaps(source, ns, 3);
  for (const name of ['db', 'api']) {
    await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { password: `${name}-s3cret` } });
  }
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', 2));
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { recipients: [demoRecipient] } });
  await eventually('both Secrets at the stand-by', () => handle.destination.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${ns}/secrets`, undefined, { query: { labelSelector: 'lifeboat.dev/plan' } }), (list) => list.items.length === 2);
  const report = await runner(handle).reconcile();
  if ('error' in report.source || 'error' in report.destination) return t.fail(JSON.stringify(report));
  t.true(report.source.listed >= 7, `listed ${report.source.listed}`);
  t.deepEqual([report.source.changed, report.source.deleted], [[], []]);
  t.deepEqual([report.destination.drifted, report.destination.missing, report.destination.orphaned], [[], [], []]);
  t.is(report.destination.checked, 7, 'namespace, 3 ConfigMaps, 2 Secrets, 1 Deployment');
});

test('a plan\'s first start lists the source once: on an empty mirror the first reconcile is skipped (and reported so), the stand-by still complete', async (t) => {
  const ns = uniqueName('first');
  const source = await kube('source');
  t.teardown(() => source.close());
  await createNamespace(source, ns);
  await createConfigMaps(source, ns, 5);
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  await eventually('the 5 ConfigMaps at the stand-by', () => configMapNames(handle.destination, ns, 'lifeboat.dev/plan'), (names) => names.length === 5);
  const saved = await eventually('the reconcile report saved', async () => JSON.parse((await handle.state.getValue(handle.plan, 'reconcile' as StateValue)) ?? 'null') as { source?: { skipped?: string; listed: number } } | null, (report) => report?.source !== undefined);
  t.regex(saved?.source?.skipped ?? '', /mirror was empty/);
  t.is(saved?.source?.listed, 0, 'the source was not listed a second time');
  // A reconcile asked for later (or at the interval) lists the source as before.
  const report = await runner(handle).reconcile();
  if ('error' in report.source) return t.fail(report.source.error);
  t.is(report.source.skipped, undefined);
  t.true(report.source.listed >= 5, `listed ${report.source.listed}`);
  t.deepEqual([report.source.changed, report.source.deleted], [[], []], 'the initial list missed nothing');
});
