// Batch messages between stages: what a batch carries is exactly what was put in, batches respect their size bound,
// their de-duplication ids are stable for the same items, and a batch's JetStream message is acknowledged only when
// every object it carries is committed.
import test from 'ava';
import type { SourceEvent } from '../../src/pipeline/messages.ts';
import { objectMessagesOf, objectsNamedBy, serializeBatches, sourceEventsOf } from '../../src/pipeline/messages.ts';
import { sharedAck } from '../../src/pipeline/mirror-writer.ts';

function event(name: string, bytes = 100): SourceEvent {
  return {
    type: 'source.upserted', plan: 'p', observedAt: 1,
    resource: { group: '', version: 'v1', kind: 'ConfigMap', namespaced: true },
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, data: { value: 'x'.repeat(bytes) } },
  };
}

const serialize = (item: SourceEvent) => ({ json: JSON.stringify(item), id: `p:${item.object.metadata.name}` });

test('a batch carries its events in order, and a single event travels as itself with its own id', (t) => {
  const events = ['a', 'b', 'c'].map((name) => event(name));
  const [batch, ...rest] = serializeBatches('source.batch', 'p', 'events', events, serialize, 1 << 20);
  t.is(rest.length, 0);
  t.deepEqual(sourceEventsOf(JSON.parse(batch!.json)), events);
  t.regex(batch!.dedupId, /^p:batch:[0-9a-f]{40}$/);

  const [single] = serializeBatches('source.batch', 'p', 'events', [events[0]!], serialize, 1 << 20);
  t.deepEqual(JSON.parse(single!.json), events[0]);
  t.is(single!.dedupId, 'p:a');
  t.deepEqual(sourceEventsOf(JSON.parse(single!.json)), [events[0]]);
});

test('batches stay under the size bound; an item larger than the bound travels alone; nothing is lost', (t) => {
  const events = Array.from({ length: 50 }, (_, index) => event(`e${index}`, index === 20 ? 5000 : 300));
  const batches = serializeBatches('source.batch', 'p', 'events', events, serialize, 2000);
  t.true(batches.length > 5);
  for (const batch of batches) {
    if (batch.items.length > 1) t.true(batch.json.length <= 2000, `${batch.json.length} bytes`);
  }
  t.true(batches.some((batch) => batch.items.length === 1 && batch.items[0]!.object.metadata.name === 'e20'));
  t.deepEqual(batches.flatMap((batch) => sourceEventsOf(JSON.parse(batch.json))), events);
});

test('the size bound counts bytes, not UTF-16 units: multi-byte data never makes a batch exceed it', (t) => {
  const events = Array.from({ length: 40 }, (_, index) => {
    const item = event(`m${index}`, 0);
    item.object.data = { value: '世界🛟'.repeat(60) };
    return item;
  });
  const batches = serializeBatches('source.batch', 'p', 'events', events, serialize, 4000);
  for (const batch of batches) {
    if (batch.items.length > 1) t.true(Buffer.byteLength(batch.json) <= 4000, `${Buffer.byteLength(batch.json)} bytes`);
  }
  t.true(batches.some((batch) => batch.items.length > 1));
  t.deepEqual(batches.flatMap((batch) => sourceEventsOf(JSON.parse(batch.json))), events);
});

test('a message names its objects: kind namespace/name of events, summary and path of objects, the commit', (t) => {
  const [batch] = serializeBatches('source.batch', 'p', 'events', [event('a'), event('b')], serialize, 1 << 20);
  t.deepEqual(objectsNamedBy(JSON.parse(batch!.json)), ['ConfigMap ns/a', 'ConfigMap ns/b']);
  t.deepEqual(objectsNamedBy({ type: 'object.changed', plan: 'p', path: 'p/namespaces/ns/ConfigMap/a.yaml', content: '', summary: 'ConfigMap ns/a', observedAt: 1 }),
    ['ConfigMap ns/a (p/namespaces/ns/ConfigMap/a.yaml)']);
  t.deepEqual(objectsNamedBy({ type: 'mirror.committed', plan: 'p', commit: 'abc', observed: {} }), ['mirror commit abc']);
  t.deepEqual(objectsNamedBy({ type: 'bus.blob' }), []);
});

test('the same items give the same batch ids (a retried publish is dropped as a duplicate); others differ', (t) => {
  const events = ['a', 'b', 'c'].map((name) => event(name));
  const ids = () => serializeBatches('source.batch', 'p', 'events', events, serialize, 1 << 20).map((batch) => batch.dedupId);
  t.deepEqual(ids(), ids());
  t.notDeepEqual(serializeBatches('source.batch', 'p', 'events', events.slice(0, 2), serialize, 1 << 20).map((batch) => batch.dedupId), ids());
});

test('messages that carry nothing usable give nothing', (t) => {
  t.deepEqual(sourceEventsOf({ type: 'source.batch', plan: 'p', events: [{ type: 'nonsense' }] }), []);
  t.deepEqual(sourceEventsOf('text'), []);
  t.deepEqual(objectMessagesOf({ type: 'object.batch', plan: 'p', messages: 'no' }), []);
  const changed = { type: 'object.changed', plan: 'p', path: 'p/x.yaml', content: 'a: 1\n', summary: 'x', observedAt: 1 };
  t.deepEqual(objectMessagesOf(changed), [changed]);
  t.deepEqual(objectMessagesOf({ type: 'object.batch', plan: 'p', messages: [changed, { type: 'bad' }] }), [changed]);
});

function recorder() {
  const calls: string[] = [];
  return { calls, raw: { ack: () => calls.push('ack'), nak: (millis?: number) => calls.push(`nak ${millis}`), working: () => calls.push('working') } };
}

test('a batch message is acknowledged once, after its last object is committed', (t) => {
  const { calls, raw } = recorder();
  // The writer holds the same share once per object and acknowledges each object after its commit.
  const share = sharedAck(raw, 3);
  share.ack();
  share.ack();
  t.deepEqual(calls, []);
  share.working();
  share.ack();
  share.ack();
  t.deepEqual(calls, ['working', 'ack']);
});

test('a batch message is redelivered whole when one of its objects fails, and never acknowledged after that', (t) => {
  const { calls, raw } = recorder();
  const share = sharedAck(raw, 2);
  share.ack();
  share.nak(2000);
  share.ack();
  share.nak(2000);
  share.working();
  t.deepEqual(calls, ['nak 2000']);
});
