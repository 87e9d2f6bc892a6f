// Processor replicas publish in any order: the mirror writer (on a real git repository) keeps the newest source
// version of each object, within a batch, across batches, and after a new writer took over (versions in the port).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { olderVersion, type ObjectMessage } from '../../src/pipeline/messages.ts';
import { MirrorWriter, type CommittedVersions } from '../../src/pipeline/mirror-writer.ts';
import { silentLogger } from '../../src/util/log.ts';

const plan = 'order';
const cmPath = (name: string) => `${plan}/core/ConfigMap/shop/${name}.yaml`;

function changed(name: string, value: string, sourceVersion?: string): ObjectMessage {
  const content = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: shop\ndata:\n  v: "${value}"\n`;
  return { type: 'object.changed', plan, path: cmPath(name), content, summary: `ConfigMap shop/${name}`, observedAt: Date.now(), ...(sourceVersion ? { sourceVersion } : {}) };
}

function deleted(name: string, sourceVersion: string): ObjectMessage {
  return { type: 'object.deleted', plan, path: cmPath(name), summary: `ConfigMap shop/${name}`, observedAt: Date.now(), sourceVersion };
}

/** Versions kept as Redis would keep them, shared by writers that follow one another. */
function versionStore(): CommittedVersions & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, load: async () => new Map(map), record: async (versions) => void versions.forEach((value, key) => map.set(key, value)) };
}

async function writer(repository: MirrorRepository, versions: CommittedVersions): Promise<MirrorWriter> {
  return new MirrorWriter({
    plan, mirrorDir: plan, repository, commitIntervalMs: 10, maxBatch: 1000, trailers: () => ({ Plan: plan }),
    publishCommit: async () => undefined, versions, log: silentLogger,
  });
}

async function valueAtHead(repository: MirrorRepository, name: string): Promise<string | undefined> {
  const oid = await repository.oidAt((await repository.head())!, cmPath(name));
  return oid ? /v: "(\d+)"/.exec(await repository.readText(oid))?.[1] : undefined;
}

test('olderVersion compares decimal resourceVersions as numbers and calls nothing else older', (t) => {
  const cases: [string | undefined, string | undefined, boolean][] = [
    ['9', '10', true], ['10', '9', false], ['10', '10', false], ['123456789012345678901', '123456789012345678902', true],
    [undefined, '10', false], ['10', undefined, false], ['abc', '10', false], ['9', 'x', false], ['', '1', false],
  ];
  for (const [candidate, known, older] of cases) t.is(olderVersion(candidate, known), older, `${candidate} vs ${known}`);
});

test('an older version arriving last is never committed over a newer one: in one batch, in a later batch, and after another writer took over', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-order-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const repository = await MirrorRepository.open(path.join(dir, 'mirror.git'));
  const versions = versionStore();

  const first = await writer(repository, versions);
  // One batch: version 12 then 11 (a slower replica) of `a`; 5 of `b`.
  first.add([changed('a', '12', '12'), changed('a', '11', '11'), changed('b', '5', '5')]);
  await first.flush();
  t.is(await valueAtHead(repository, 'a'), '12');
  // A later batch with an older `a` and a newer `b`.
  first.add([changed('a', '10', '10'), changed('b', '6', '6')]);
  await first.flush();
  t.is(await valueAtHead(repository, 'a'), '12', 'the older version of a was dropped');
  t.is(await valueAtHead(repository, 'b'), '6');
  await first.stop();
  t.is(versions.map.get(cmPath('a')), '12');

  // A new writer (the lease moved): it knows the committed versions from the port.
  const second = await writer(repository, versions);
  second.add([changed('a', '11', '11'), deleted('b', '4')]);
  await second.flush();
  t.is(await valueAtHead(repository, 'a'), '12', 'the new writer dropped the older a');
  t.is(await valueAtHead(repository, 'b'), '6', 'a delete older than the committed version is dropped too');
  // A newer delete goes through, and an update older than the delete does not bring the object back.
  second.add([deleted('b', '7')]);
  await second.flush();
  t.is(await valueAtHead(repository, 'b'), undefined);
  second.add([changed('b', '6', '6')]);
  await second.flush();
  t.is(await valueAtHead(repository, 'b'), undefined);
  // Messages without a version (an approved delete, an old message) are taken in arrival order.
  second.add([changed('a', '3')]);
  await second.flush();
  t.is(await valueAtHead(repository, 'a'), '3');
  await second.stop();
});
