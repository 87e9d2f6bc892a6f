// `lifeboat run` and `lifeboat status` as a person runs them: a real process with metrics on loopback, ready
// after the initial sync, status read from Redis, and a graceful exit on SIGTERM.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../../src/sandbox/process.ts';
import { freePort } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, demoIdentityFile, get, pipeline } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

test('lifeboat run replicates, answers /readyz and /metrics on loopback, shows in status, and exits cleanly on SIGTERM', async (t) => {
  const info = await sandbox();
  const ns = uniqueName('cli');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('hello', { from: 'cli' }));
  const port = await freePort();
  const env = { ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl };
  const child = spawn(process.execPath, [cli, 'run', '--plans', handle.plansDir, '--mirror', path.join(handle.dir, 'cli-mirror.git'),
    '--metrics-addr', `127.0.0.1:${port}`, '--identity', demoIdentityFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => child.kill('SIGKILL'));

  await waitFor('/readyz', () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false), 60_000, 200);
  t.truthy(await get(handle.destination, `/api/v1/namespaces/${ns}/configmaps/hello`), stderr);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.regex(metrics, new RegExp(`lifeboat_applies_total\\{plan="${handle.plan}",action="created"\\} 2`));

  await waitFor('status in Redis', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'status', '-o', 'json'], { env });
    return (JSON.parse(stdout) as { plans: { plan: string }[] }).plans.some((plan) => plan.plan === handle.plan);
  }, 30_000, 500);
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'status'], { env });
  t.regex(stdout, new RegExp(`${handle.plan}\\s+[0-9a-f]{12}\\s+in sync\\s+2\\s`));

  child.kill('SIGTERM');
  t.is(await exited, 0, 'a graceful shutdown exits 0');
  t.regex(stderr, /shutting down: finishing in-flight batches/);
  t.true(fs.existsSync(path.join(handle.dir, 'cli-mirror.git', 'HEAD')));
});

test('lifeboat run with an unreachable NATS says so in one line', async (t) => {
  const port = await freePort();
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, 'run', '--nats', `nats://127.0.0.1:${port}`], { timeout: 60_000 }, (error, _stdout, stderr) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }));
  });
  t.is(code, 1);
  t.regex(stderr, new RegExp(`^lifeboat: cannot reach NATS at nats://127\\.0\\.0\\.1:${port}: .*\\(set --nats or LIFEBOAT_NATS_URL\\)\\n$`));
});
