// One object fails at each stage, in one plan, at once: the listener cannot publish it (a source Secret carrying
// lifeboat's ciphertext annotation), the processor cannot transform it (a JSON patch whose path it lacks), the
// destination refuses it (an invalid label value). Every other object arrives, each bad one is named with its
// stage and reason in the plan's status, and `lifeboat run`'s process never stops for them.
import test from 'ava';
import type { PlanStatus } from '../../src/runtime/status.ts';
import { configMap, createNamespace, demoRecipient, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const secret = (name: string, value: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Secret', metadata: { name, annotations }, type: 'Opaque', data: { value: Buffer.from(value).toString('base64') },
});

test('one object failing at each stage (listener, processor, destination) never holds back the others', async (t) => {
  t.timeout(4 * 60_000);
  const ns = uniqueName('bad-each');
  const handle = await pipeline({
    resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] },
    transforms: [
      // The processor: a ConfigMap has no /spec, so this patch fails for `untransformable` alone.
      { select: { names: ['untransformable'] }, jsonPatch: [{ op: 'replace', path: '/spec/replicas', value: 1 }] },
      // The destination: a label value with spaces is refused by the API server.
      { select: { names: ['refused'] }, jsonPatch: [{ op: 'add', path: '/metadata/labels', value: { tier: 'not a valid label value' } }] },
    ],
  }, { logFile: true });
  t.teardown(() => handle.close());
  const { source, destination } = handle;
  await createNamespace(source, ns);
  const configMaps = `/api/v1/namespaces/${ns}/configmaps`;
  const secrets = `/api/v1/namespaces/${ns}/secrets`;
  const good = Array.from({ length: 20 }, (_, index) => `good-${index}`);
  for (const name of good.slice(0, 10)) await source.request('POST', configMaps, configMap(name, { n: name }));
  await source.request('POST', configMaps, configMap('untransformable', { n: 'x' }));
  await source.request('POST', configMaps, configMap('refused', { n: 'x' }));
  await source.request('POST', secrets, secret('poison', 'plain', { 'lifeboat.dev/encrypted-data': '-----BEGIN AGE ENCRYPTED FILE-----\nforged\n-----END AGE ENCRYPTED FILE-----\n' }));
  await source.request('POST', secrets, secret('good-secret', 'kept'));
  await handle.start();
  // Changes after the bad objects, through the same watches, arrive too.
  for (const name of good.slice(10)) await source.request('POST', configMaps, configMap(name, { n: name }));
  await source.request('PUT', `${secrets}/good-secret`, secret('good-secret', 'changed'));

  for (const name of good) {
    t.deepEqual((await eventually(`ConfigMap ${name} at the stand-by`, () => get<{ data: Record<string, string> }>(destination, `${configMaps}/${name}`), Boolean, 60_000))?.data, { n: name });
  }
  const arrived = await eventually('the changed Secret at the stand-by', () => get<{ data?: Record<string, string> }>(destination, `${secrets}/good-secret`),
    (object) => object?.data?.value === Buffer.from('changed').toString('base64'), 60_000);
  t.truthy(arrived);
  for (const name of ['untransformable', 'refused']) t.is(await get(destination, `${configMaps}/${name}`), undefined, `${name} is not at the stand-by`);
  t.is(await get(destination, `${secrets}/poison`), undefined);

  const runner = handle.runtime.runners.get(handle.plan)!;
  const named = await eventually('each bad object named in status', () => runner.status(), (status: PlanStatus) =>
    status.failing.length >= 2 && status.lastErrors.some((error) => error.path.endsWith('/ConfigMap/refused.yaml')), 60_000);
  t.like(named.failing.find((failure) => failure.object === `Secret ${ns}/poison`), { stage: 'listener' });
  const untransformable = named.failing.find((failure) => failure.object.endsWith(`ConfigMap ${ns}/untransformable`));
  t.like(untransformable, { stage: 'processor' });
  t.regex(untransformable!.reason, /jsonPatch failed at operation 1 \(replace \/spec\/replicas\)/);
  t.regex(named.lastErrors.find((error) => error.path.endsWith('/ConfigMap/refused.yaml'))!.reason, /Invalid value.*not a valid label value/);
});
