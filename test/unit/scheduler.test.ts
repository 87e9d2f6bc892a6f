// The pass scheduler, synchronously: passes are planned, tasks started and finished by hand, and each case checks
// what a task, stage or pass waits for. The synchronizer executes exactly these answers.
import test from 'ava';
import { mirrorPath, type UnversionedRef } from '../../src/kube/ref.ts';
import { Stage } from '../../src/pipeline/order.ts';
import type { WorkItem } from '../../src/pipeline/sync/planner.ts';
import { groupsOf, Schedule, Signals, type Milestone, type Pass, type Task } from '../../src/pipeline/sync/scheduler.ts';

const r = (group: string, kind: string, name: string, namespace?: string): UnversionedRef =>
  namespace === undefined ? { group, kind, name } : { group, kind, namespace, name };
const namespace = (name: string) => r('', 'Namespace', name);
const configMap = (name: string, ns = 'web') => r('', 'ConfigMap', name, ns);
const crd = r('apiextensions.k8s.io', 'CustomResourceDefinition', 'widgets.example.com');
const widget = r('example.com', 'Widget', 'w', 'web');

/** An apply of `ref` (its blob `oid`), or its delete. */
const item = (ref: UnversionedRef, oid = 'blob'): WorkItem => ({ path: mirrorPath('shop', ref), ref, oid });
const deletion = (ref: UnversionedRef): WorkItem => ({ path: mirrorPath('shop', ref), ref, oid: undefined });

function schedule(maxPassesInFlight = 16) {
  const settled: Milestone[] = [];
  const s = new Schedule({ pathOf: (ref) => mirrorPath('shop', ref), maxPassesInFlight, onSettled: (milestone) => settled.push(milestone) });
  let commit = 0;
  const plan = (items: WorkItem[], observed: Record<string, number> = {}) => s.plan(`c${++commit}`, items, observed);
  return { s, plan, settled };
}

const taskOf = (pass: Pass, ref: UnversionedRef): Task => pass.tasks.get(mirrorPath('shop', ref))!;

test('a later pass supersedes a task not started yet: that one is skipped', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'), 'v1')]);
  const second = plan([item(configMap('a'), 'v2')]);
  const [old, next] = [taskOf(first, configMap('a')), taskOf(second, configMap('a'))];
  t.is(old.supersededBy, next);
  t.is(next.after, undefined, 'nothing was running: nothing to wait for');
  t.false(s.start(old), 'skipped in its turn');
  t.true(old.settled);
  t.false(old.started);
  t.true(s.start(next));
  t.is(s.backlog(), 1, 'one path in flight');
});

test('a later pass waits for a task already started', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'), 'v1')]);
  const old = taskOf(first, configMap('a'));
  s.start(old);
  const next = taskOf(plan([item(configMap('a'), 'v2')]), configMap('a'));
  t.is(old.supersededBy, undefined);
  t.is(next.after, old);
  t.is(s.blocker(next), old);
  s.finish(old);
  t.is(s.blocker(next), undefined);
});

test('a superseding task inherits what the superseded one waited for, and its first-observed time', (t) => {
  const { s, plan } = schedule();
  const running = taskOf(plan([item(configMap('a'), 'v1')], { [mirrorPath('shop', configMap('a'))]: 100 }), configMap('a'));
  s.start(running);
  const waiting = taskOf(plan([item(configMap('a'), 'v2')], { [mirrorPath('shop', configMap('a'))]: 200 }), configMap('a'));
  const third = plan([item(configMap('a'), 'v3')], { [mirrorPath('shop', configMap('a'))]: 300 });
  const latest = taskOf(third, configMap('a'));
  t.is(waiting.supersededBy, latest);
  t.is(latest.after, running, 'waits for the task still running, not for the skipped one');
  t.is(third.observed[mirrorPath('shop', configMap('a'))], 200, 'its lag counts from the first change not yet applied');
});

test('first-observed times: the earlier of the two, per path', (t) => {
  const { plan } = schedule();
  const path = (name: string) => mirrorPath('shop', configMap(name));
  plan([item(configMap('a')), item(configMap('b')), item(configMap('c'))], { [path('a')]: 100, [path('b')]: 500 });
  const second = plan([item(configMap('a')), item(configMap('b')), item(configMap('c'))], { [path('a')]: 300, [path('b')]: 400, [path('c')]: 50 });
  t.deepEqual(second.observed, { [path('a')]: 100, [path('b')]: 400, [path('c')]: 50 });
});

const namespaceCases: { name: string; earlier?: WorkItem[]; same?: WorkItem[]; object: WorkItem; waits: 'earlier' | 'same' | 'nothing' }[] = [
  { name: 'its Namespace in the same pass', same: [item(namespace('web'))], object: item(configMap('a')), waits: 'same' },
  { name: 'its Namespace in an earlier pass', earlier: [item(namespace('web'))], object: item(configMap('a')), waits: 'earlier' },
  { name: 'the same pass over an earlier one (the newest task)', earlier: [item(namespace('web'))], same: [item(namespace('web'))], object: item(configMap('a')), waits: 'same' },
  { name: 'another Namespace: nothing', same: [item(namespace('other'))], object: item(configMap('a')), waits: 'nothing' },
  { name: 'a delete waits for no Namespace', same: [item(namespace('web'))], object: deletion(configMap('a')), waits: 'nothing' },
  { name: 'a cluster-scoped object waits for no Namespace', same: [item(namespace('web'))], object: item(r('rbac.authorization.k8s.io', 'ClusterRoleBinding', 'x')), waits: 'nothing' },
  { name: 'a Namespace being deleted is not waited for', same: [deletion(namespace('web'))], object: item(configMap('a')), waits: 'nothing' },
  { name: 'no Namespace pending: nothing', object: item(configMap('a')), waits: 'nothing' },
];

for (const c of namespaceCases) {
  test(`namespace gate: ${c.name}`, (t) => {
    const { s, plan } = schedule();
    const earlier = c.earlier ? plan(c.earlier) : undefined;
    const pass = plan([...(c.same ?? []), c.object]);
    const task = taskOf(pass, c.object.ref);
    const expected = c.waits === 'same' ? taskOf(pass, namespace('web')) : c.waits === 'earlier' ? taskOf(earlier!, namespace('web')) : undefined;
    t.is(s.blocker(task), expected);
    if (expected) {
      s.start(expected);
      s.finish(expected);
      t.is(s.blocker(task), undefined);
    }
  });
}

test('namespace gate: a Namespace task taken over by a later pass is waited for through the later one', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(namespace('web'), 'n1'), item(configMap('a'))]);
  const second = plan([item(namespace('web'), 'n2')]);
  const object = taskOf(first, configMap('a'));
  const [old, next] = [taskOf(first, namespace('web')), taskOf(second, namespace('web'))];
  t.is(object.namespace, old);
  t.is(s.blocker(object), old);
  t.false(s.start(old));
  t.is(s.blocker(object), next, 'applied by the later pass');
  s.start(next);
  s.finish(next);
  t.is(s.blocker(object), undefined);
});

test('namespace gate: the same path’s earlier task comes first, then the Namespace', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'), 'v1')]);
  s.start(taskOf(first, configMap('a')));
  const second = plan([item(namespace('web')), item(configMap('a'), 'v2')]);
  const task = taskOf(second, configMap('a'));
  t.is(s.blocker(task), taskOf(first, configMap('a')));
  s.finish(taskOf(first, configMap('a')));
  t.is(s.blocker(task), taskOf(second, namespace('web')));
});

test('stage gates: stage i of a pass waits for stage i-1 of every earlier pass (CRDs established)', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(crd)]);
  const second = plan([item(widget)]);
  const third = plan([item(configMap('a'))]);
  t.deepEqual(s.stageGate(second, 0), [], 'the first stage waits for no stage');
  t.deepEqual(s.stageGate(second, 1), [first.stages[0]]);
  t.deepEqual(s.stageGate(third, 1), [first.stages[0], second.stages[0]]);
  s.finishStage(first, 0);
  t.deepEqual(s.stageGate(third, 1), [second.stages[0]]);
  t.deepEqual(s.stageGate(third, 2), [first.stages[1], second.stages[1]]);
  t.deepEqual(s.stageGate(first, 3), [], 'nothing earlier than the first pass');
});

test('deletes wait until every earlier pass is done; recording waits for the pass planned before', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'))]);
  const second = plan([item(configMap('b'))]);
  const third = plan([deletion(configMap('a'))]);
  t.deepEqual(s.deleteGate(third), [first.done, second.done]);
  t.is(s.recordGate(third), second.done);
  t.is(s.recordGate(first), undefined);
  s.finishPass(first);
  t.deepEqual(s.deleteGate(third), [second.done]);
  t.is(s.recordGate(second), undefined);
  s.finishPass(second);
  t.deepEqual(s.deleteGate(third), []);
  t.is(s.recordGate(third), undefined);
});

test('a pass failed before recording: the next is recorded after it, and waits for no other', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'))]);
  const second = plan([item(configMap('b'))]);
  const third = plan([item(configMap('c'))]);
  s.fail();
  s.finishPass(second); // failed while the first still applies
  t.is(s.recordGate(third), undefined);
  t.deepEqual(s.deleteGate(third), [first.done]);
});

test('the number of passes applying is bounded; a pass that has applied everything no longer counts', (t) => {
  const { s, plan } = schedule(2);
  const first = plan([item(configMap('a'))]);
  t.false(s.full());
  const second = plan([item(configMap('b'))]);
  t.true(s.full());
  t.deepEqual(s.applying(), [first, second]);
  s.finishApplying(first);
  t.false(s.full(), 'applied, waiting to record: not in flight');
  t.deepEqual(s.unfinished(), [first, second]);
  s.finishPass(first);
  t.deepEqual(s.unfinished(), [second]);
});

test('a failed pass bumps the generation: passes planned before it do not advance the applied commit', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'))]);
  const second = plan([item(configMap('b'))]);
  t.true(s.advances(first));
  s.fail();
  t.false(s.advances(first));
  t.false(s.advances(second));
  const third = plan([item(configMap('c'))]);
  t.true(s.advances(third));
});

test('a pass done settles whatever it did not reach, and forgets its paths (not those taken over)', (t) => {
  const { s, plan, settled } = schedule();
  const first = plan([item(configMap('a')), item(configMap('b'))]);
  const second = plan([item(configMap('b'), 'v2')]);
  const [a, b] = [taskOf(first, configMap('a')), taskOf(first, configMap('b'))];
  t.true(s.has(a.item.path));
  s.finishPass(first);
  t.true(a.settled && b.settled);
  t.true(first.stages.every((stage) => stage.settled) && first.applied.settled && first.done.settled);
  t.false(s.has(a.item.path));
  t.true(s.has(b.item.path), 'the later pass has it');
  t.is(s.backlog(), 1);
  t.is(settled.at(-1), first.done, 'done settles last');
  t.is(new Set(settled).size, settled.length, 'each milestone settles once');
  t.deepEqual(first.earlier, []);
  t.false(second.done.settled);
});

test('an owner-pending task started once is started again at the end of its pass (never skipped)', (t) => {
  const { s, plan } = schedule();
  const first = plan([item(configMap('a'))]);
  const task = taskOf(first, configMap('a'));
  t.true(s.start(task));
  plan([item(configMap('a'), 'v2')]);
  t.is(task.supersededBy, undefined);
  t.true(s.start(task));
});

test('groupsOf: Namespaces beside the stages, every stage in order and sorted, deletes in reverse order', (t) => {
  const { plan } = schedule();
  const pass = plan([
    item(configMap('b')), item(widget), item(namespace('web')), item(crd), item(r('storage.k8s.io', 'StorageClass', 'fast')),
    deletion(configMap('gone')), deletion(namespace('old')), item(r('admissionregistration.k8s.io', 'ValidatingWebhookConfiguration', 'v')), item(configMap('a')),
  ]);
  const groups = groupsOf(pass);
  const names = (tasks: Task[]) => tasks.map((task) => `${task.item.ref.kind}/${task.item.ref.name}`);
  t.deepEqual(names(groups.namespaces), ['Namespace/web']);
  t.deepEqual(groups.stages.map((stage) => [stage.stage, stage.waitForReady, names(stage.tasks)]), [
    [Stage.definitions, true, ['CustomResourceDefinition/widgets.example.com']],
    [Stage.classes, false, ['StorageClass/fast']],
    [Stage.resources, false, ['ConfigMap/a', 'ConfigMap/b', 'Widget/w']],
    [Stage.admission, false, ['ValidatingWebhookConfiguration/v']],
  ]);
  t.deepEqual(groups.deletes.map(names), [['ConfigMap/gone'], ['Namespace/old']]);
});

test('Signals: a promise per milestone, resolved when the schedule settles it', async (t) => {
  const signals = new Signals();
  const s = new Schedule({ pathOf: (ref) => mirrorPath('shop', ref), maxPassesInFlight: 16, onSettled: signals.fire });
  const pass = s.plan('c1', [item(configMap('a'))], {});
  let done = false;
  const waiting = signals.when(pass.done).then(() => (done = true));
  await Promise.resolve();
  t.false(done);
  s.finishPass(pass);
  await waiting;
  t.true(done);
  await signals.when(pass.done); // settled before: at once
});
