import test from 'ava';
import jsonpatch from 'fast-json-patch';
import { activatedAnnotation, activationPatch } from '../../src/recovery/activate.ts';
import { compileTransforms, type KubeObject } from '../../src/pipeline/transforms.ts';

const deactivate = compileTransforms([{ deactivate: { replicasPaths: ['/spec/workers'], suspendPaths: ['/spec/paused'] } }]);
const meta = (name: string) => ({ name, namespace: 'shop', annotations: { keep: 'me' } });

/** Deactivates, activates, and returns the object without lifeboat's bookkeeping annotations. */
function roundTrip(object: KubeObject): KubeObject {
  const asleep = deactivate(object, true);
  const patch = activationPatch(asleep, 'recover-shop-1');
  if (!patch) throw new Error('not deactivated');
  const awake = jsonpatch.applyPatch(structuredClone(asleep), patch, true).newDocument as KubeObject;
  t_annotations.push(awake.metadata.annotations ?? {});
  const kept = Object.fromEntries(Object.entries(awake.metadata.annotations ?? {}).filter(([key]) => !key.startsWith('lifeboat.dev/')));
  return { ...awake, metadata: { ...awake.metadata, annotations: kept } };
}
const t_annotations: Record<string, string>[] = [];

test('activation restores exactly what deactivation changed, kind by kind', (t) => {
  const cases: KubeObject[] = [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('web'), spec: { replicas: 3, template: {} } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta('db'), spec: { template: {} } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('nightly'), spec: { schedule: '0 3 * * *', suspend: false } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta('agent'), spec: { template: { spec: { nodeSelector: { disk: 'ssd' } } } } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta('plain'), spec: { template: { spec: { containers: [] } } } },
    { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: meta('web'), spec: { minReplicas: 4, maxReplicas: 10 } },
    { apiVersion: 'example.com/v1', kind: 'Queue', metadata: meta('q'), spec: { workers: 7 } },
  ];
  for (const object of cases) {
    const expected = structuredClone(object);
    if (object.kind === 'StatefulSet') (expected.spec as Record<string, unknown>).replicas = 1; // the API default, made explicit
    t.deepEqual(roundTrip(object), expected, `${object.kind} ${object.metadata.name}`);
  }
  t.true(t_annotations.every((notes) => notes['lifeboat.dev/deactivated'] === 'false' && notes[activatedAnnotation] === 'recover-shop-1'));
});

test('objects that are not deactivated get no patch; a broken replica annotation is an error', (t) => {
  t.is(activationPatch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }, 'job'), undefined);
  t.throws(() => activationPatch({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a', annotations: { 'lifeboat.dev/deactivated': 'true', 'lifeboat.dev/replicas': 'many' } }, spec: {} }, 'job'),
    { message: /lifeboat.dev\/replicas is not a replica count: many/ });
});

test('recovery.activate: replicas can stay down, suspended things can stay suspended; a partial activation stays marked', (t) => {
  const plain = compileTransforms([{ deactivate: {} }]);
  const asleep = plain({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('web'), spec: { replicas: 3 } }, true);
  t.deepEqual(activationPatch(asleep, 'job', { restoreReplicas: false, resumeSuspended: true }), [
    { op: 'add', path: '/metadata/annotations/lifeboat.dev~1activated-by', value: 'job' },
  ], 'nothing restored, still marked deactivated');
  const cron = plain({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('nightly'), spec: { suspend: false } }, true);
  const patch = activationPatch(cron, 'job', { restoreReplicas: true, resumeSuspended: false })!;
  t.false(patch.some((op) => op.path === '/spec/suspend'));
  const queue = deactivate({ apiVersion: 'example.com/v1', kind: 'Queue', metadata: meta('q'), spec: { workers: 7, paused: false } }, true);
  const woken = jsonpatch.applyPatch(structuredClone(queue), activationPatch(queue, 'job', { restoreReplicas: true, resumeSuspended: false })!, true).newDocument as KubeObject;
  t.deepEqual(woken.spec, { workers: 7, paused: true }, 'workers back, still paused');
  t.is(woken.metadata.annotations?.['lifeboat.dev/deactivated'], 'true');
});
