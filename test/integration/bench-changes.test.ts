// The bench's per-stage lag (bench/changes.ts) on the sandbox's real nats-server, connected as the `lifeboat` user
// the bench runs as: that user may consume the stage streams but not subscribe to their subjects, so the tracker
// must read them through JetStream. A change published as an event, an object and a commit gets a time at each stage,
// in order, and the breakdown has a figure for each.
import { performance } from 'node:perf_hooks';
import test from 'ava';
import { ChangeTracker } from '../../bench/changes.ts';
import { Bus } from '../../src/bus/bus.ts';
import { mirrorPath } from '../../src/kube/ref.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

test('the stage breakdown times a change at the event, object and commit it travels in', async (t) => {
  const bus = await Bus.connect((await sandbox()).natsUrl, 'bench-changes-test');
  const plan = uniqueName('changes');
  const tracker = new ChangeTracker();
  t.teardown(async () => {
    await tracker.stop();
    await bus.removePlan(plan).catch(() => undefined);
    await bus.close();
  });
  await tracker.follow(bus, plan);

  const ref = { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'settings' };
  const observedAt = Date.now();
  const sentAt = performance.now();
  const change = tracker.sent('shop/settings', 7, sentAt);
  change.patchedAt = sentAt + 1;
  tracker.inSource('shop/settings', 7, sentAt + 2);
  const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'shop', name: 'settings' }, data: { 'bench-counter': '7' } };
  await bus.publish('events', plan, { type: 'source.batch', plan, events: [
    { type: 'source.upserted', plan, resource: { group: '', version: 'v1', kind: 'ConfigMap', namespaced: true }, object, observedAt },
  ] });
  await bus.publish('objects', plan, { type: 'object.changed', plan, path: mirrorPath(plan, ref), content: 'data:\n  bench-counter: "7"\n', summary: 'ConfigMap shop/settings', observedAt });
  await bus.publish('commits', plan, { type: 'mirror.committed', plan, commit: 'c0ffee', observed: { [mirrorPath(plan, ref)]: observedAt } });

  await waitFor('the commit stage', () => tracker.records()[0]?.commit !== undefined, 10_000, 20);
  tracker.applied('shop/settings', 7, performance.now());
  const [record] = tracker.records();
  const { event, object: processed, commit, applied } = record as Record<string, number>;
  t.true(event! <= processed! && processed! <= commit! && commit! <= applied!, JSON.stringify(record));
  // Stored by JetStream after the change was registered, and not later than the bench read it.
  t.true(event! >= -5, JSON.stringify(record));
  const stages = tracker.breakdown();
  for (const name of ['listenerMs', 'processorMs', 'mirrorMs', 'synchronizerMs'] as const) t.is(stages[name].count, 1, name);
});
