// Lifeboat on its worst day, on the real sandbox: crashes mid-sync, a broker restart, Redis restarted and then
// wiped, a stand-by API server unreachable for a minute, a poison object, a broken plan, a graceful hand-over and a
// second process taking over from a dead one. Each ends with the destination equal to what the plan says.
// These tests stop and pause shared sandbox components, so `npm test` runs them alone, one at a time.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { KubeClient } from '../../src/kube/client.ts';
import { configMap, createNamespace, deployment, eventually, get, pipeline, writePlan, type PipelineHandle } from '../helpers/pipeline.ts';
import { component, pause, restartComponent, startLifeboat, type LifeboatProcess } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';
import { Redis } from 'ioredis';

const handles: PipelineHandle[] = [];

/** Deletes every key lifeboat has, as FLUSHALL would (lifeboat's Redis user may run neither FLUSHALL nor KEYS). */
async function forgetEverything(url: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'lifeboat:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
const processes: LifeboatProcess[] = [];
test.after.always(async () => {
  for (const child of processes) child.kill('SIGKILL');
  await Promise.all(handles.map((handle) => handle.close()));
});

// Each test's pipelines log at debug level to a file; a failed test prints where, and how the log ends.
let firstOfTest = 0;
test.beforeEach(() => {
  firstOfTest = handles.length;
});
test.afterEach.always((t) => {
  if (t.passed) return;
  for (const { logFile } of handles.slice(firstOfTest)) {
    if (!logFile || !fs.existsSync(logFile)) continue;
    const lines = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
    t.log(`lifeboat's log: ${logFile} (${lines.length} lines); the last 40:\n${lines.slice(-40).map((line) => line.slice(0, 400)).join('\n')}`);
  }
});

async function prepared(spec: Record<string, unknown>): Promise<PipelineHandle> {
  const handle = await pipeline({ secrets: { mode: 'exclude' }, ...spec }, { logFile: true });
  handles.push(handle);
  return handle;
}

async function lifeboat(handle: PipelineHandle): Promise<LifeboatProcess> {
  const child = await startLifeboat(handle);
  processes.push(child);
  return child;
}

type Obj = { metadata: { name: string; labels?: Record<string, string> }; data?: Record<string, string>; spec?: { replicas?: number } };
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createMany(client: KubeClient, ns: string, count: number, make: (index: number) => Record<string, unknown>, apiPath = cmPath(ns)): Promise<void> {
  for (let start = 0; start < count; start += 25) {
    await Promise.all(Array.from({ length: Math.min(25, count - start) }, (_, offset) => client.request('POST', apiPath, make(start + offset))));
  }
}

/** name → data of every ConfigMap in a namespace (kube-root-ca.crt left out). */
async function configMaps(client: KubeClient, ns: string): Promise<Map<string, string>> {
  const list = await client.request<{ items: Obj[] }>('GET', cmPath(ns));
  return new Map(list.items.filter((item) => item.metadata.name !== 'kube-root-ca.crt').map((item) => [item.metadata.name, JSON.stringify(item.data ?? {})]));
}

/** Waits until the destination's ConfigMaps in `ns` equal the source's. */
async function converged(handle: PipelineHandle, ns: string, timeoutMs = 120_000): Promise<void> {
  let last = '';
  try {
    await eventually(`ConfigMaps of ${ns} equal in both clusters`, async () => {
      const [source, destination] = await Promise.all([configMaps(handle.source, ns), configMaps(handle.destination, ns)]);
      const missing = [...source].filter(([name, data]) => destination.get(name) !== data).map(([name]) => name);
      const extra = [...destination.keys()].filter((name) => !source.has(name));
      last = `${missing.length} missing or different (${missing.slice(0, 5).join(', ')}), ${extra.length} extra (${extra.slice(0, 5).join(', ')})`;
      return missing.length === 0 && extra.length === 0;
    }, (equal) => equal, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${last}`, { cause: error });
  }
}

test('kill -9 at random points of an initial sync, five times in a row: the sixth run completes with nothing lost', async (t) => {
  t.timeout(8 * 60_000);
  const namespaces = [uniqueName('crash'), uniqueName('crash')];
  const handle = await prepared({ resources: { include: [{ namespaces }] }, transforms: [{ deactivate: {} }] });
  for (const ns of namespaces) {
    await createNamespace(handle.source, ns);
    await createMany(handle.source, ns, 250, (index) => configMap(`cm-${index}`, { n: String(index), payload: 'x'.repeat(500) }));
    await createMany(handle.source, ns, 25, (index) => deployment(`web-${index}`, 3), `/apis/apps/v1/namespaces/${ns}/deployments`);
  }
  const killedAt: number[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const child = await lifeboat(handle);
    const delay = 1000 + Math.floor(Math.random() * 5000);
    await sleep(delay);
    child.kill('SIGKILL');
    await child.exited;
    killedAt.push(delay);
  }
  t.log(`killed after ${killedAt.join(', ')} ms`);
  const last = await lifeboat(handle);
  // Killed whatever happens: a process left running would count as a live peer in the next tests' lease shares.
  t.teardown(() => last.kill('SIGKILL'));
  await last.ready(5 * 60_000);
  for (const ns of namespaces) await converged(handle, ns);
  for (const ns of namespaces) {
    const deployments = await eventually(`the 25 Deployments of ${ns} at the stand-by`, () => handle.destination.request<{ items: Obj[] }>('GET', `/apis/apps/v1/namespaces/${ns}/deployments`),
      (found) => found.items.length === 25, 60_000);
    t.is(deployments.items.length, 25);
    t.true(deployments.items.every((item) => item.spec?.replicas === 0), 'every Deployment asleep at the stand-by');
  }
  // The mirror holds each object once, and the destination is what the mirror says.
  const files = [...(await handle.mirror.files(await handle.mirror.head(), handle.plan)).keys()];
  t.is(files.filter((file) => file.includes('/ConfigMap/')).length, 500);
  t.is(files.filter((file) => file.includes('/Deployment.apps/')).length, 50);
  t.deepEqual(await handle.state.failures(handle.plan), []);
  last.kill('SIGTERM');
  t.is(await last.exited, 0);
});

test('nats-server restarted mid-stream: every change arrives', async (t) => {
  t.timeout(4 * 60_000);
  const ns = uniqueName('nats');
  const handle = await prepared({ resources: { include: [{ namespaces: [ns] }] } });
  await createNamespace(handle.source, ns);
  await handle.start();
  const writes = (async () => {
    for (let index = 0; index < 150; index++) {
      await handle.source.request('POST', cmPath(ns), configMap(`cm-${index}`, { n: String(index) }));
      await sleep(40);
    }
  })();
  await sleep(1500);
  await restartComponent('nats', 3000);
  await writes;
  await converged(handle, ns);
  t.is((await configMaps(handle.destination, ns)).size, 150);
});

test('redis-server restarted, then Redis flushed: state is re-derived and nothing without the plan label is touched', async (t) => {
  t.timeout(4 * 60_000);
  const ns = uniqueName('redis');
  const handle = await prepared({ resources: { include: [{ namespaces: [ns] }] } });
  const { source, destination, state, plan } = handle;
  await createNamespace(source, ns);
  await createMany(source, ns, 30, (index) => configMap(`cm-${index}`, { n: String(index) }));
  await handle.start();
  await converged(handle, ns);

  await restartComponent('redis', 2000);
  await source.request('PUT', cmPath(ns, 'cm-1'), { ...(await get<Obj>(source, cmPath(ns, 'cm-1'))), data: { n: 'after the restart' } });
  await converged(handle, ns);

  // Someone else's object at the stand-by, with the name the source is about to use.
  await destination.request('POST', cmPath(ns), configMap('theirs', { owner: 'someone else' }));
  // Every key lifeboat has, as FLUSHALL would (lifeboat's Redis user may not run FLUSHALL itself).
  await forgetEverything((await sandbox()).redisUrl);
  t.is(await state.getValue(plan, 'applied-head'), undefined);
  await source.request('POST', cmPath(ns), configMap('theirs', { owner: 'the source' }));
  await source.request('PUT', cmPath(ns, 'cm-2'), { ...(await get<Obj>(source, cmPath(ns, 'cm-2'))), data: { n: 'after the flush' } });
  await eventually('cm-2 after the flush', () => get<Obj>(destination, cmPath(ns, 'cm-2')), (cm) => cm?.data?.n === 'after the flush', 60_000);
  await eventually('the applied head re-derived', async () => [await state.getValue(plan, 'applied-head'), await handle.mirror.head()], ([applied, head]) => applied !== undefined && applied === head, 60_000);
  const theirs = await get<Obj>(destination, cmPath(ns, 'theirs'));
  t.deepEqual(theirs?.data, { owner: 'someone else' }, 'an object without the plan label is never overwritten');
  t.is(theirs?.metadata.labels?.['lifeboat.dev/plan'], undefined);
  const failures = await eventually('the refusal reported', () => state.failures(plan), (list) => list.length > 0, 30_000);
  t.regex(failures[0]!.reason, /already exists at the destination without lifeboat\.dev\/plan/);
  t.is((await configMaps(destination, ns)).size, 31);
});

test('the stand-by API server unreachable for 60 s while changes keep coming: lifeboat catches up and lag recovers', async (t) => {
  t.timeout(5 * 60_000);
  const ns = uniqueName('unreachable');
  const handle = await prepared({ resources: { include: [{ namespaces: [ns] }] } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await source.request('POST', cmPath(ns), configMap('ticker', { n: '0' }));
  await handle.start();
  await eventually('the ticker at the stand-by', () => get<Obj>(destination, cmPath(ns, 'ticker')), (cm) => cm !== undefined);

  let ticks = 0;
  const { pid } = component('destination-apiserver');
  await pause(pid, 60_000, async () => {
    const until = Date.now() + 58_000;
    while (Date.now() < until) {
      ticks++;
      await source.request('PUT', cmPath(ns, 'ticker'), { ...(await get<Obj>(source, cmPath(ns, 'ticker'))), data: { n: String(ticks) } });
      if (ticks % 10 === 0) await source.request('POST', cmPath(ns), configMap(`during-${ticks}`, { n: String(ticks) }));
      await sleep(500);
    }
  });
  const resumed = Date.now();
  await converged(handle, ns, 180_000);
  t.log(`caught up ${((Date.now() - resumed) / 1000).toFixed(1)} s after the API server came back (${ticks} changes while it was away)`);
  // Lag is back to normal: a change now arrives in seconds.
  const changed = Date.now();
  await source.request('PUT', cmPath(ns, 'ticker'), { ...(await get<Obj>(source, cmPath(ns, 'ticker'))), data: { n: 'after' } });
  await eventually('a change after recovery', () => get<Obj>(destination, cmPath(ns, 'ticker')), (cm) => cm?.data?.n === 'after', 20_000);
  t.true(Date.now() - changed < 20_000);
});

test('one poison object among 1,000: the others are applied; it is reported with its reason and retried', async (t) => {
  t.timeout(5 * 60_000);
  const ns = uniqueName('poison');
  // The plan's own transform makes one object invalid at the destination (a label value with spaces).
  const handle = await prepared({
    resources: { include: [{ namespaces: [ns] }] },
    transforms: [{ select: { names: ['cm-666'] }, jsonPatch: [{ op: 'add', path: '/metadata/labels', value: { tier: 'not a valid label value' } }] }],
  });
  const { source, destination, state, plan } = handle;
  await createNamespace(source, ns);
  await createMany(source, ns, 1000, (index) => configMap(`cm-${index}`, { n: String(index) }));
  await handle.start();
  await eventually('999 ConfigMaps at the stand-by', async () => (await configMaps(destination, ns)).size, (n) => n === 999, 180_000);
  t.is(await get(destination, cmPath(ns, 'cm-666')), undefined);
  const failures = await eventually('the poison retried', () => state.failures(plan), (list) => (list[0]?.attempts ?? 0) >= 2, 60_000);
  t.is(failures.length, 1);
  t.true(failures[0]!.path.endsWith('/ConfigMap/cm-666.yaml'));
  t.regex(failures[0]!.reason, /Invalid value.*not a valid label value/);
  const status = await handle.runtime.runners.get(plan)!.status();
  t.is(status.lastErrors.length, 1);
  // Later changes of the others still flow.
  await source.request('PUT', cmPath(ns, 'cm-999'), { ...(await get<Obj>(source, cmPath(ns, 'cm-999'))), data: { n: 'still flowing' } });
  await eventually('a change after the poison', () => get<Obj>(destination, cmPath(ns, 'cm-999')), (cm) => cm?.data?.n === 'still flowing');
});

test('a broken plan pushed while other plans run: they keep running, the error is visible', async (t) => {
  const [a, b] = [uniqueName('plan-a'), uniqueName('plan-b')];
  const handle = await prepared({ resources: { include: [{ namespaces: [a] }] } });
  const other = uniqueName('other');
  writePlan(handle.plansDir, other, { resources: { include: [{ namespaces: [b] }] }, secrets: { mode: 'exclude' } });
  await createNamespace(handle.source, a);
  await createNamespace(handle.source, b);
  await handle.start();
  t.teardown(() => handle.state.forget(other));
  fs.writeFileSync(path.join(handle.plansDir, `${other}.yaml`), 'apiVersion: lifeboat.dev/v1alpha1\nkind: RecoveryPlan\nmetadata: {name: broken\nspec: [\n');
  await eventually('the plans error in status', async () => (await handle.state.plansStatus<{ errors?: unknown[] }>()) ?? {}, (status) => (status.errors?.length ?? 0) > 0, 10_000);
  await handle.source.request('POST', cmPath(a), configMap('still', { running: 'yes' }));
  await handle.source.request('POST', cmPath(b), configMap('also', { running: 'yes' }));
  await eventually('plan A still replicates', () => get(handle.destination, cmPath(a, 'still')), (cm) => cm !== undefined);
  await eventually('plan B still replicates (its last valid revision)', () => get(handle.destination, cmPath(b, 'also')), (cm) => cm !== undefined);
  t.is(handle.runtime.runners.size, 2);
});

test('two lifeboat processes: one mirror writer at a time; the other takes over within seconds of a kill -9; SIGTERM hands over', async (t) => {
  t.timeout(5 * 60_000);
  const ns = uniqueName('pair');
  const handle = await prepared({ resources: { include: [{ namespaces: [ns] }] } });
  const { source } = handle;
  await createNamespace(source, ns);
  await createMany(source, ns, 20, (index) => configMap(`cm-${index}`, { n: String(index) }));
  const first = await lifeboat(handle);
  await first.ready();
  const second = await lifeboat(handle);
  await second.ready();
  await converged(handle, ns);
  const writerLine = /this process is the mirror writer/;
  t.true(writerLine.test(first.output()));
  t.false(writerLine.test(second.output()), 'one mirror writer per plan');

  first.kill('SIGKILL');
  const killed = Date.now();
  await createMany(source, ns, 20, (index) => configMap(`after-kill-${index}`, { n: String(index) }));
  await eventually('the second process takes over', async () => writerLine.test(second.output()), (yes) => yes, 30_000);
  const takeover = (Date.now() - killed) / 1000;
  t.log(`took over after ${takeover.toFixed(1)} s`);
  t.true(takeover < 20, `took over after ${takeover} s`);
  await converged(handle, ns);

  // A graceful stop during a burst finishes or hands back its in-flight batches: a new process gets them at once.
  const burst = createMany(source, ns, 100, (index) => configMap(`burst-${index}`, { n: String(index) }));
  await sleep(500);
  second.kill('SIGTERM');
  t.is(await second.exited, 0);
  t.regex(second.output(), /shutting down: finishing in-flight batches/);
  await burst;
  const third = await lifeboat(handle);
  const started = Date.now();
  await third.ready();
  await converged(handle, ns, 60_000);
  t.is((await configMaps(handle.source, ns)).size, 140);
  t.log(`the next process caught up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  third.kill('SIGTERM');
  t.is(await third.exited, 0);
});
