// Redis and NATS on a bad day and against a hostile neighbour, with real processes: redis-server killed with
// SIGKILL under a running `lifeboat run`, and the passwords lifeboat holds never printed. These tests kill the
// sandbox's Redis, so run them only against a sandbox of your own (LIFEBOAT_SANDBOX_DIR), never a shared one.
import test from 'ava';
import { readCredentials } from '../../src/sandbox/credentials.ts';
import { sandboxUp } from '../../src/sandbox/sandbox.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { component, startLifeboat, type LifeboatProcess } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const handles: PipelineHandle[] = [];
const processes: LifeboatProcess[] = [];
test.after.always(async () => {
  for (const child of processes) child.kill('SIGKILL');
  await Promise.all(handles.map((handle) => handle.close()));
});

const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** kill -9 of redis-server: no shutdown, no last write; `sandbox up` later starts it again on its append-only file. */
function killRedis(): void {
  const { pid } = component('redis');
  process.kill(pid, 'SIGKILL');
}

test('redis-server killed with SIGKILL four times under lifeboat run: run waits each outage out and replicates what changed meanwhile', async (t) => {
  t.timeout(8 * 60_000);
  const info = await sandbox();
  const ns = uniqueName('rediskill');
  const handle = await pipeline({ secrets: { mode: 'exclude' }, resources: { include: [{ namespaces: [ns] }] } });
  handles.push(handle);
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', cmPath(ns), configMap('before', { n: '0' }));
  const lifeboat = await startLifeboat(handle);
  processes.push(lifeboat);
  await lifeboat.ready();
  let exitCode: number | null | undefined;
  void lifeboat.exited.then((code) => (exitCode = code));

  for (let round = 1; round <= 4; round++) {
    killRedis();
    // Changes while Redis is down, and an outage longer than any retry count: every state read and write, the
    // leases, the status publisher and the listener's checkpoints meet a dead Redis, again and again.
    await handle.source.request('POST', cmPath(ns), configMap(`during-${round}`, { round: String(round) }));
    await sleep(8000);
    t.is(exitCode, undefined, `lifeboat run still running with Redis down (round ${round}); its last lines:\n${lifeboat.output().trim().split('\n').slice(-15).join('\n')}`);
    await sandboxUp(info.dir);
    await eventually(`during-${round} at the stand-by`, () => get<{ data?: Record<string, string> }>(handle.destination, cmPath(ns, `during-${round}`)),
      (cm) => cm?.data?.round === String(round), 90_000);
  }
  // Caught up after the last outage: an edit goes through, and /readyz says ready again.
  await handle.source.request('PUT', cmPath(ns, 'before'), { ...configMap('before', { n: 'after' }) });
  await eventually('the edit at the stand-by', () => get<{ data?: Record<string, string> }>(handle.destination, cmPath(ns, 'before')), (cm) => cm?.data?.n === 'after', 90_000);
  await waitFor('lifeboat ready again', () => fetch(`http://127.0.0.1:${lifeboat.port}/readyz`).then((r) => r.status === 200, () => false), 60_000, 200);
  t.is(exitCode, undefined);
  t.regex(lifeboat.output(), /Redis is unreachable; state reads and writes wait until it is back/);
  t.regex(lifeboat.output(), /Redis is back; resuming/);
  // It logged every outage, and never the passwords it connects with.
  const credentials = readCredentials(info.dir);
  t.truthy(credentials, 'the sandbox runs with credentials');
  for (const password of [credentials!.redis.lifeboat, credentials!.nats.lifeboat]) t.false(lifeboat.output().includes(password));

  // A SIGTERM while Redis is down still stops it (a lease release does not wait for Redis), exit 0.
  killRedis();
  await sleep(3000);
  const stoppedAt = Date.now();
  lifeboat.kill('SIGTERM');
  const code = await Promise.race([lifeboat.exited, sleep(60_000).then(() => 'still running' as const)]);
  await sandboxUp(info.dir);
  t.is(code, 0, `SIGTERM with Redis down; its last lines:\n${lifeboat.output().trim().split('\n').slice(-10).join('\n')}`);
  t.log(`stopped ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after SIGTERM with Redis down`);
});
