// Lifeboat started while its NATS cluster is still forming: two of three nats-servers are up (they have a meta
// leader, but streams with 3 replicas cannot be placed on two peers), the third comes a few seconds later, as when
// a StatefulSet restarts beside lifeboat. The bus waits for it and makes its streams with 3 replicas, instead of
// failing at once with "no suitable peers for placement". And streams made with 1 replica (lifeboat first started
// on a single server) are scaled up to 3 by the next start. Both as the `lifeboat` user, with the permissions the
// sandbox gives it. They kill nothing, but start servers of their own: `npm test` runs them with the failure tests.
import test, { type ExecutionContext } from 'ava';
import { blobStream, Bus, streams, subjectFor } from '../../src/bus/bus.ts';
import { natsClusterNodes, natsClusterUrl, natsMetaLeader, startNatsCluster, startNatsNode, stopNatsCluster, type NatsNode } from '../../src/sandbox/clustered.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { readState } from '../../src/sandbox/sandbox.ts';
import { runCleanups, serversDir } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => unknown)[] = [];
test.after.always(() => runCleanups(cleanups));

/** Three nodes on free ports with the sandbox's users (none started yet), and the URL of `lifeboat` for some of them. */
async function cluster(prefix: string) {
  const info = await sandbox();
  const binary = readState(info.dir)!.binaries!.natsServer;
  const { dir, credentials, natsConfig: config, remove } = serversDir(prefix);
  const nodes: NatsNode[] = await natsClusterNodes(3);
  cleanups.push(() => stopNatsCluster(nodes, binary), remove);
  const options = { binary, dir, config };
  const url = (some: NatsNode[]) => natsClusterUrl(some, { user: 'lifeboat', password: credentials.nats.lifeboat });
  return { nodes, options, url };
}

/** Every stream has `replicas` in its configuration, and as many peers (a scaled-up stream adds them within seconds). */
async function replicated(t: ExecutionContext, bus: Bus, replicas: number): Promise<void> {
  for (const stream of [...Object.values(streams), blobStream]) {
    t.is((await bus.jsm.streams.info(stream.name)).config.num_replicas, replicas, stream.name);
    const peers = async () => ((await bus.jsm.streams.info(stream.name)).cluster?.replicas?.length ?? 0) + 1;
    await waitFor(`${stream.name} on ${replicas} servers`, async () => (await peers()) === replicas, 20_000, 200).catch(() => undefined);
    t.is(await peers(), replicas, `${stream.name}: on ${replicas} servers`);
  }
}

test.serial('a bus connecting while the third server of a 3-node cluster is still starting waits for it, then has its streams on 3 replicas', async (t) => {
  t.timeout(120_000);
  const { nodes, options, url } = await cluster('forming');
  startNatsNode(options, nodes, nodes[0]!);
  startNatsNode(options, nodes, nodes[1]!);
  await waitFor('two of the three servers to elect a meta leader', async () => (await natsMetaLeader(nodes.slice(0, 2))) !== undefined, 60_000, 200);

  const name = uniqueName('forming');
  const connecting = Bus.connect(url(nodes.slice(0, 2)), name, { replicas: 3 });
  const settled = connecting.then(() => Date.now(), (error: Error) => error);
  await sleep(3000);
  const thirdStarted = Date.now();
  startNatsNode(options, nodes, nodes[2]!);
  const outcome = await settled;
  if (outcome instanceof Error) return t.fail(`Bus.connect failed: ${outcome.message}`);
  t.log(`connected ${((outcome - thirdStarted) / 1000).toFixed(1)} s after the third server started`);
  t.true(outcome >= thirdStarted, 'the streams were made only once the third server was there');

  const bus = await connecting;
  cleanups.push(() => bus.close());
  await replicated(t, bus, 3);
  // The bus works: a publish is acknowledged by the replicated stream.
  t.true(await bus.publish('events', name, { type: 'test.forming' }, `${name}:1`));
  await bus.removePlan(name);
});

test.serial('streams made with 1 replica are scaled up to the cluster\'s 3 when lifeboat starts again, messages kept', async (t) => {
  t.timeout(120_000);
  const { nodes, options, url } = await cluster('scale-up');
  await startNatsCluster({ ...options, nodes });
  const plan = uniqueName('scale');
  const first = await Bus.connect(url(nodes), 'first', { replicas: 1 });
  cleanups.push(() => first.close());
  await replicated(t, first, 1);
  t.true(await first.publish('events', plan, { type: 'test.kept' }, `${plan}:1`));
  await first.close();

  // Started again with the cluster's URL: one replica per server, three.
  const bus = await Bus.connect(url(nodes), 'again');
  cleanups.push(() => bus.close());
  await replicated(t, bus, 3);
  const kept = await bus.jsm.streams.getMessage(streams.events.name, { last_by_subj: subjectFor('events', plan) });
  t.deepEqual(kept?.json(), { type: 'test.kept' });
  await bus.removePlan(plan);
});
