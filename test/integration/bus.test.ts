// The bus on the sandbox's real nats-server: a message larger than max_payload travels by reference (chunks in
// LIFEBOAT_BLOBS) and arrives whole; a handler that throws for one message of a batch holds back only that message,
// which is redelivered and then dead-lettered; a reference whose blob is gone is dead-lettered at once. And in a
// running pipeline, a message each stage cannot handle is reported and the other objects still arrive.
import test from 'ava';
import { blobStream, Bus, isBlobReference, streams, subjectFor } from '../../src/bus/bus.ts';
import { configMap, createNamespace, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { readState } from '../../src/sandbox/sandbox.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const buses: { bus: Bus; plan: string }[] = [];
test.after.always(async () => {
  for (const { bus, plan } of buses) {
    await bus.removePlan(plan).catch(() => undefined);
    await bus.close();
  }
});

async function connected(prefix: string): Promise<{ bus: Bus; plan: string }> {
  const bus = await Bus.connect((await sandbox()).natsUrl);
  const entry = { bus, plan: uniqueName(prefix) };
  buses.push(entry);
  return entry;
}

test('streams that cannot be made (3 replicas on a server that is not clustered): one line at once, and no connection left open', async (t) => {
  const info = await sandbox();
  const monitor = readState(info.dir)!.nats.monitor;
  const name = uniqueName('unplaceable');
  const started = Date.now();
  const error = await t.throwsAsync(Bus.connect(info.natsUrl, name, { replicas: 3 }));
  t.regex(error!.message, /^cannot create the JetStream stream LIFEBOAT_\w+ with 3 replica\(s\): .*replicas > 1 not supported in non-clustered mode/);
  t.false(error!.message.includes('\n'));
  t.true(Date.now() - started < 10_000, 'an error that waiting cannot cure is not waited on');
  // Closed, not reconnecting in the background: the server has no connection of that name.
  const named = async () => {
    const connz = await (await fetch(`http://127.0.0.1:${monitor}/connz?limit=1024`)).json() as { connections?: { name?: string }[] };
    return (connz.connections ?? []).filter((connection) => connection.name === name).length;
  };
  await waitFor(`the server to drop the connection ${name}`, async () => (await named()) === 0, 3000, 50).catch(() => undefined);
  t.is(await named(), 0);
});

test('a message over max_payload is stored as chunks and handed to the handler whole; removePlan purges its blob', async (t) => {
  const { bus, plan } = await connected('blob');
  const limit = bus.connection.info!.max_payload;
  // 2.5 times the limit, multi-byte characters included (bytes, not UTF-16 units, decide).
  const text = 'é🛟x'.repeat(Math.ceil((limit * 2.5) / 7));
  const message = { type: 'test.large', text, list: Array.from({ length: 1000 }, (_, index) => index) };
  const json = JSON.stringify(message);
  t.true(Buffer.byteLength(json) > 2 * limit);
  t.true(await bus.publishSerialized('events', plan, json, `${plan}:large`));
  t.false(await bus.publishSerialized('events', plan, json, `${plan}:large`), 'a retried publish is a duplicate, like any other');

  // What the stage subject holds is a small reference.
  const stored = await bus.jsm.streams.getMessage(streams.events.name, { last_by_subj: subjectFor('events', plan) });
  t.true(stored!.data.length < 1024, `${stored!.data.length} bytes`);
  const reference = stored!.json<unknown>();
  t.true(isBlobReference(reference));
  if (!isBlobReference(reference)) return;
  t.is(reference.bytes, Buffer.byteLength(json));
  t.is(reference.chunks, Math.ceil(reference.bytes / bus.maxMessageBytes));
  t.true(reference.chunks >= 3);

  const received: unknown[] = [];
  const subscription = await bus.consume({ stream: 'events', plan, durable: 'test', handle: async (messages) => void received.push(...messages) });
  await waitFor('the large message', () => received.length > 0, 10_000, 20);
  await subscription.stop();
  t.is(received.length, 1);
  t.deepEqual(received[0], message);

  await bus.removePlan(plan);
  t.is(await bus.jsm.direct.getMessage(blobStream.name, { last_by_subj: `${blobStream.subject}.${plan}.${reference.id}.0` }), null);
});

test('a handler that throws for one message of a batch: the others are handled, that one is retried alone and dead-lettered', async (t) => {
  const { bus, plan } = await connected('throw');
  for (let n = 0; n < 6; n++) await bus.publish('events', plan, { type: 'test.item', n }, `${plan}:${n}`);
  const handled: number[] = [];
  const batches: number[] = [];
  const attempts = new Map<number, number>();
  const deadLetters: { message: unknown; error: Error }[] = [];
  const subscription = await bus.consume({
    stream: 'events', plan, durable: 'test', maxDeliveries: 3,
    handle: async (messages) => {
      batches.push(messages.length);
      const items = messages.map((message) => (message as { n: number }).n);
      for (const n of items) attempts.set(n, (attempts.get(n) ?? 0) + 1);
      if (items.includes(4)) throw new Error('item 4 cannot be handled');
      handled.push(...items);
    },
    onDeadLetter: (message, error) => deadLetters.push({ message, error }),
  });
  // Deliveries 1, 2 and 3 of item 4, 2 s and 4 s apart.
  await waitFor('the dead letter', () => deadLetters.length > 0, 20_000, 50);
  await waitFor('nothing pending', async () => (await subscription.pending()) === 0, 5_000, 50);
  await subscription.stop();
  t.true(batches[0]! > 1, `the first batch carried several messages (${batches.join(', ')})`);
  t.deepEqual(handled.sort(), [0, 1, 2, 3, 5], 'every other message was handled, each once');
  t.is(attempts.get(4), 4, 'item 4: in the batch, alone, then two redeliveries');
  t.is(deadLetters.length, 1);
  t.deepEqual(deadLetters[0]!.message, { type: 'test.item', n: 4 });
  t.regex(deadLetters[0]!.error.message, /item 4 cannot be handled \(failed 3 deliveries\)/);
});

test('a reference whose blob is gone is dead-lettered at once, and the messages around it are handled', async (t) => {
  const { bus, plan } = await connected('gone');
  await bus.publish('events', plan, { type: 'test.item', n: 1 }, `${plan}:1`);
  await bus.publish('events', plan, { type: 'bus.blob', id: 'a'.repeat(64), chunks: 2, bytes: 2_000_000, sha256: 'a'.repeat(64) }, `${plan}:ref`);
  await bus.publish('events', plan, { type: 'test.item', n: 2 }, `${plan}:2`);
  const handled: unknown[] = [];
  const deadLetters: Error[] = [];
  const subscription = await bus.consume({
    stream: 'events', plan, durable: 'test', handle: async (messages) => void handled.push(...messages), onDeadLetter: (_message, error) => deadLetters.push(error),
  });
  await waitFor('both items and the dead letter', () => handled.length === 2 && deadLetters.length === 1, 10_000, 20);
  await waitFor('nothing pending', async () => (await subscription.pending()) === 0, 5_000, 50);
  await subscription.stop();
  t.deepEqual(handled, [{ type: 'test.item', n: 1 }, { type: 'test.item', n: 2 }]);
  t.regex(deadLetters[0]!.message, /has no chunk 0 in LIFEBOAT_BLOBS: it expired or was purged/);
});

test('a running pipeline: what each stage cannot handle is reported with the object named, and the other objects arrive', async (t) => {
  const ns = uniqueName('poison');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  const { source, destination, bus, plan } = handle;
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('before', { value: '1' }));
  await handle.start();
  await eventually('the first ConfigMap', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/before`), (c) => c !== undefined);

  const resource = { group: '', version: 'v1', kind: 'ConfigMap', namespaced: true };
  const good = { type: 'source.upserted', plan, resource, observedAt: Date.now(), object: configMap('batched', { value: '2' }) };
  (good.object.metadata as Record<string, unknown>).namespace = ns;
  // Processor: an object it fails on (no metadata) travels in a batch with a good one; a reference to a blob that is gone.
  await bus.publish('events', plan, { type: 'source.batch', plan, events: [{ ...good, object: { apiVersion: 'v1', kind: 'ConfigMap' } }, good] }, `${plan}:poison-batch`);
  await bus.publish('events', plan, { type: 'bus.blob', id: 'b'.repeat(64), chunks: 1, bytes: 10, sha256: 'b'.repeat(64) }, `${plan}:gone`);
  // Mirror writer and synchronizer: messages that are not JSON.
  await bus.js.publish(subjectFor('objects', plan), 'not json');
  await bus.js.publish(subjectFor('commits', plan), '{truncated');
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('after', { value: '3' }));

  await eventually('the ConfigMap after them', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/after`), (c) => c !== undefined);
  await eventually('the good object of the poisoned batch', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/batched`), (c) => c !== undefined);
  const deadLetters = async () => Object.fromEntries((await handle.metrics.deadLetters.get()).values.filter((value) => value.labels.plan === plan).map((value) => [value.labels.stage, value.value]));
  t.deepEqual(await eventually('a dead letter per stage', deadLetters, (counts) => Object.keys(counts).length === 3), { processor: 1, mirror: 1, synchronizer: 1 });
  const failed = (await handle.metrics.objects.get()).values.find((value) => value.labels.plan === plan && value.labels.outcome === 'object.failed');
  t.is(failed?.value, 1, 'the object without metadata became a failed object, not a failed batch');
  const status = await handle.runtime.runners.get(plan)!.status();
  t.true(status.lastErrors.some((error) => /^processor: blob b{64}/.test(error.reason)), JSON.stringify(status.lastErrors));
  t.true(status.lastErrors.some((error) => error.reason.startsWith('mirror: message') && error.reason.includes('is not JSON')));
  t.true(handle.runtime.ready(), 'the plan runs on');
});
