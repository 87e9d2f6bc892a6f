// Lifeboat started while its NATS cluster is still forming: two of three nats-servers are up (they have a meta
// leader, but streams with 3 replicas cannot be placed on two peers), the third comes a few seconds later, as when
// a StatefulSet restarts beside lifeboat. The bus waits for it and makes its streams with 3 replicas, instead of
// failing at once with "no suitable peers for placement". It kills nothing, but starts servers of its own: `npm
// test` runs it with the failure tests, alone.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bus, streams } from '../../src/bus/bus.ts';
import { natsClusterNodes, natsClusterUrl, natsMetaLeader, startNatsNode, stopNatsCluster, type NatsNode } from '../../src/sandbox/clustered.ts';
import { processesMentioning, waitFor } from '../../src/sandbox/process.ts';
import { readState } from '../../src/sandbox/sandbox.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => unknown)[] = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.race([Promise.resolve().then(cleanup).catch(() => undefined), sleep(15_000)]);
});

test('a bus connecting while the third server of a 3-node cluster is still starting waits for it, then has its streams on 3 replicas', async (t) => {
  t.timeout(120_000);
  const info = await sandbox();
  const binary = readState(info.dir)!.binaries!.natsServer;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-forming-'));
  const nodes: NatsNode[] = await natsClusterNodes(3);
  cleanups.push(
    () => stopNatsCluster(nodes, binary),
    () => processesMentioning(dir).forEach((pid) => process.kill(pid, 'SIGKILL')),
    () => fs.rmSync(dir, { recursive: true, force: true }),
  );
  const options = { binary, dir };
  startNatsNode(options, nodes, nodes[0]!);
  startNatsNode(options, nodes, nodes[1]!);
  await waitFor('two of the three servers to elect a meta leader', async () => (await natsMetaLeader(nodes.slice(0, 2))) !== undefined, 60_000, 200);

  const name = uniqueName('forming');
  const connecting = Bus.connect(natsClusterUrl(nodes.slice(0, 2)), name, { replicas: 3 });
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
  for (const stream of Object.values(streams)) {
    const stored = await bus.jsm.streams.info(stream.name);
    t.is(stored.config.num_replicas, 3, stream.name);
    t.is(stored.cluster?.replicas?.length, 2, `${stream.name}: two replicas beside the leader`);
  }
  // The bus works: a publish is acknowledged by the replicated stream.
  t.true(await bus.publish('events', name, { type: 'test.forming' }, `${name}:1`));
  await bus.removePlan(name);
});
