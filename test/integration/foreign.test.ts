// Foreign objects at a destination that refuses discovery (an API server just restarted answers 403 until its RBAC
// cache is filled; here a token it does not know, 401): the listing is given up and each object is looked at on its
// own, never a rejected promise nobody handles (which made `lifeboat run` exit as if it had met a bug). And the
// listings of overlapping passes share the destination's request slots: never more in flight than sync.concurrency.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { Destination } from '../../src/pipeline/sync/destination.ts';
import { foreignObjects } from '../../src/pipeline/sync/foreign.ts';
import { silentLogger } from '../../src/util/log.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

test('a destination that refuses discovery: nothing listed, every object undecided, no unhandled rejection', async (t) => {
  const info = await sandbox();
  const config = parse(fs.readFileSync(info.kubeconfig, 'utf8')) as { users: { user: Record<string, unknown> }[] };
  for (const user of config.users) user.user = { token: 'not-a-token-the-cluster-knows' };
  const client = await KubeClient.create(loadKubeConfig({ data: stringify(config), context: 'destination' }), { maxSockets: 1 });
  t.teardown(() => client.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-foreign-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const destination = new Destination({ plan: 'p', client, repository: await MirrorRepository.open(path.join(dir, 'mirror.git')), identities: [], concurrency: 4, log: silentLogger });

  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const refs = [
    { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'a' },
    { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' },
    { group: '', kind: 'Namespace', name: 'shop' },
  ];
  const ownership = foreignObjects(destination, refs, { plan: 'p', log: silentLogger });
  t.is(await ownership.listed, 0, 'no collection could be listed');
  for (const ref of refs) t.is(await ownership.foreign(ref), undefined, `${ref.kind} ${ref.name}: undecided, looked at on its own`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(unhandled, []);
});

test('overlapping passes list foreign objects within the destination\'s one request limit, and each finds the foreign object', async (t) => {
  const info = await sandbox();
  const client = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context: 'destination' }));
  t.teardown(() => client.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-foreign-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const namespace = uniqueName('foreign');
  await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  t.teardown(() => client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined));
  await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs' } });
  const limit = 2;
  const destination = new Destination({ plan: 'p', client, repository: await MirrorRepository.open(path.join(dir, 'mirror.git')), identities: [], concurrency: limit, log: silentLogger });

  // Counts the listings in flight, each from its first request until its last page.
  let inFlight = 0;
  let most = 0;
  const listPages = client.listPages.bind(client);
  client.listPages = async function* (...args: Parameters<KubeClient['listPages']>) {
    inFlight++;
    most = Math.max(most, inFlight);
    try {
      yield* listPages(...args);
    } finally {
      inFlight--;
    }
  };
  // Per pass, one kind in six namespaces (the first has the foreign ConfigMap; the others do not exist, and list empty).
  const refsOfPass = (pass: number) => [namespace, ...Array.from({ length: 5 }, (_, index) => `${namespace}-${pass}-${index}`)]
    .map((where) => ({ group: '', kind: 'ConfigMap', namespace: where, name: where === namespace ? 'theirs' : 'ours' }));
  const passes = [0, 1, 2].map((pass) => foreignObjects(destination, refsOfPass(pass), { plan: 'p', log: silentLogger }));
  t.deepEqual(await Promise.all(passes.map((ownership) => ownership.listed)), [6, 6, 6]);
  t.true(most <= limit, `${most} listings in flight at once; the destination allows ${limit}`);
  for (const ownership of passes) {
    t.true(await ownership.foreign({ group: '', kind: 'ConfigMap', namespace, name: 'theirs' }));
    t.false(await ownership.foreign({ group: '', kind: 'ConfigMap', namespace, name: 'ours' }));
  }
});
