import test from 'ava';
import { ObjectFailures, objectName } from '../../src/pipeline/failures.ts';
import { planState } from '../../src/cli/status.ts';
import type { PlanStatus } from '../../src/runtime/status.ts';

test('a failing object is counted per stage, keeps its first time, and clears when it goes through', (t) => {
  const gauges: Record<string, number> = {};
  const failures = new ObjectFailures((stage, failing) => (gauges[stage] = failing));
  failures.report('listener', 'Secret shop/copied', 'cannot be published: carries lifeboat.dev/encrypted-data');
  const since = failures.list(10)[0]!.since;
  failures.report('listener', 'Secret shop/copied', 'again');
  failures.report('processor', 'apps/Deployment shop/web', 'processing failed: patch path /spec/x does not exist');
  t.deepEqual(gauges, { listener: 1, processor: 1 });
  t.like(failures.list(10), [{ object: 'apps/Deployment shop/web', stage: 'processor', count: 1 }, { object: 'Secret shop/copied', reason: 'again', since, count: 2 }]);
  failures.clear('processor', 'Secret shop/copied');
  t.is(failures.count('listener'), 1, 'cleared only for the stage it went through');
  failures.clear('listener', 'Secret shop/copied');
  t.deepEqual(gauges, { listener: 0, processor: 1 });
  t.is(failures.count(), 1);
});

test('failures of objects a complete list no longer shows are forgotten; newer ones are kept; the list is bounded', async (t) => {
  const failures = new ObjectFailures();
  failures.report('listener', 'Secret shop/gone', 'x');
  failures.report('listener', 'Secret shop/still', 'x');
  failures.retain(new Set(['Secret shop/still']), Date.now() + 1);
  t.deepEqual(failures.list(10).map((failure) => failure.object), ['Secret shop/still']);
  await new Promise((resolve) => setTimeout(resolve, 5)); // a later millisecond: after the list began
  failures.report('listener', 'Secret shop/new', 'x');
  failures.retain(new Set(), Date.parse(failures.list(1)[0]!.since));
  t.deepEqual(failures.list(10).map((failure) => failure.object), ['Secret shop/new'], 'failed since the list began: the list may not have seen it');
  for (let index = 0; index < 500; index++) failures.report('processor', `ConfigMap shop/c${index}`, 'x');
  t.is(failures.count(), 200);
  t.is(failures.list(1)[0]!.object, 'ConfigMap shop/c499', 'newest first');
});

test('objects are named as logs and status name them', (t) => {
  t.is(objectName({ group: '', kind: 'Secret' }, { namespace: 'shop', name: 'db' }), 'Secret shop/db');
  t.is(objectName({ group: 'apps', kind: 'Deployment' }, { namespace: 'shop', name: 'web' }), 'apps/Deployment shop/web');
  t.is(objectName({ group: '', kind: 'Namespace' }, { name: 'shop' }), 'Namespace shop');
  t.is(objectName({ group: '', kind: 'ConfigMap' }, undefined), 'ConfigMap (no name)');
});

test('status says in sync only while nothing fails or stalls', (t) => {
  const base = { plan: 'shop', mirrorHead: 'a'.repeat(40), appliedHead: 'a'.repeat(40), lastErrors: [], failing: [], failingObjects: 0, stalls: [] } as unknown as PlanStatus;
  t.is(planState(base), 'in sync');
  t.is(planState({ ...base, appliedHead: 'b'.repeat(40) }), 'bbbbbbbbbbbb');
  t.is(planState({ ...base, failingObjects: 2 }), 'degraded: 2 objects failing');
  t.is(planState({ ...base, lastErrors: [{ path: 'shop/x', reason: 'refused', attempts: 3, at: '' }] }), 'degraded: 1 object failing');
  t.is(planState({ ...base, failingObjects: 1, stalls: [{ component: 'mirror', summary: 'mirror not writable', error: 'EROFS', since: '' }] }), 'mirror not writable');
  t.is(planState({ ...base, failedOver: 'recover-1' }), 'failed over (recover-1)');
});
