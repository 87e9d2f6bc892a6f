import test from 'ava';
import { DeleteGuard } from '../../src/pipeline/delete-guard.ts';
import { blobOid } from '../../src/pipeline/reconciler.ts';
import { differingFields } from '../../src/pipeline/synchronizer.ts';
import { execFileSync } from 'node:child_process';

const policy = { maxPercent: 20, minDeletes: 10, windowMs: 60_000, namespaces: true };
const cm = (index: number, namespace = 'shop') => ({ path: `p/namespaces/${namespace}/ConfigMap/cm-${index}.yaml`, summary: `ConfigMap ${namespace}/cm-${index}` });
const none = new Set<string>();

test('deletes within the threshold are committed', (t) => {
  const guard = new DeleteGuard(policy);
  const decision = guard.decide([cm(1), cm(2)], { objects: 100, held: none, rejected: none });
  t.deepEqual(decision.commit, [cm(1).path, cm(2).path]);
  t.deepEqual(decision.hold, []);
});

test('a burst above maxPercent of the plan within the window is held, counting deletes already committed', (t) => {
  const guard = new DeleteGuard(policy);
  const now = 1_000_000;
  guard.committed(15, now);
  const decision = guard.decide([1, 2, 3, 4, 5, 6].map((index) => cm(index)), { objects: 100, held: none, rejected: none, now: now + 1000 });
  t.deepEqual(decision.commit, []);
  t.is(decision.hold.length, 6);
  t.regex(decision.hold[0]!.reason, /21 deletes within 60s exceed 20% of the plan's 100 objects/);
  // Outside the window the earlier deletes no longer count.
  const later = new DeleteGuard(policy);
  later.committed(15, now);
  t.is(later.decide([cm(1), cm(2), cm(3), cm(4), cm(5), cm(6)], { objects: 100, held: none, rejected: none, now: now + 61_000 }).commit.length, 6);
});

test('small plans: fewer than minDeletes never trip the percentage', (t) => {
  const guard = new DeleteGuard(policy);
  t.is(guard.decide([cm(1), cm(2), cm(3)], { objects: 5, held: none, rejected: none }).commit.length, 3);
  const strict = new DeleteGuard({ ...policy, minDeletes: 0 });
  t.is(strict.decide([cm(1), cm(2)], { objects: 5, held: none, rejected: none }).hold.length, 2);
});

test('a Namespace delete, and deletes in a namespace being deleted, are held', (t) => {
  const guard = new DeleteGuard(policy);
  const decision = guard.decide([{ path: 'p/cluster/Namespace/shop.yaml', summary: 'Namespace shop' }, { ...cm(1), guard: 'namespace' }, cm(2, 'other')],
    { objects: 1000, held: none, rejected: none });
  t.deepEqual(decision.commit, []);
  t.is(decision.hold.length, 3);
  t.is(decision.hold[0]!.reason, 'namespace shop is being deleted in the source');
  t.is(new DeleteGuard({ ...policy, namespaces: false }).decide([{ path: 'p/cluster/Namespace/shop.yaml', summary: 'Namespace shop' }], { objects: 1000, held: none, rejected: none }).commit.length, 1);
});

test('while deletes are held the guard stays tripped; approved deletes pass and rejected ones are dropped', (t) => {
  const guard = new DeleteGuard(policy);
  const held = new Set([cm(9).path]);
  const decision = guard.decide([cm(1), { ...cm(9), approved: true }, cm(3)], { objects: 1000, held, rejected: new Set([cm(3).path]) });
  t.deepEqual(decision.commit, [cm(9).path]);
  t.deepEqual(decision.hold.map((entry) => entry.path), [cm(1).path]);
  t.deepEqual(decision.drop, [cm(3).path]);
});

test('differingFields names the fields the destination changed and ignores what only it has', (t) => {
  const desired = { metadata: { name: 'a', labels: { app: 'x' } }, spec: { replicas: 0, ports: [{ port: 80 }] }, data: { key: 'v' } };
  t.deepEqual(differingFields(desired, { ...desired, status: { ready: 1 }, metadata: { ...desired.metadata, uid: 'u' } }), []);
  t.deepEqual(differingFields(desired, { ...desired, spec: { replicas: 3, ports: [{ port: 80, protocol: 'TCP' }] }, data: { key: 'edited' } }), ['spec.replicas', 'data.key']);
  t.deepEqual(differingFields(desired, { ...desired, spec: { replicas: 0, ports: [] } }), ['spec.ports']);
});

test('blobOid is git\'s blob id', (t) => {
  const content = 'apiVersion: v1\nkind: ConfigMap\n';
  t.is(blobOid(content), execFileSync('git', ['hash-object', '--stdin'], { input: content }).toString().trim());
});
