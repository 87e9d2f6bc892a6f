// Status tells the truth, through the real pipeline: one object that cannot be replicated is named (stage, reason,
// since, count) and skipped while the rest of its kind keeps replicating, across restarts; a mirror that cannot be
// written stalls the plan and says so in status, /readyz and metrics; lifeboat_ready agrees with /readyz.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { serveMetrics } from '../../src/metrics/metrics.ts';
import { locateBinaries } from '../../src/sandbox/binaries.ts';
import { freePort, startDetached, stopProcess, waitFor } from '../../src/sandbox/process.ts';
import type { PlanStatus } from '../../src/runtime/status.ts';
import { configMap, createNamespace, demoRecipient, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
});

async function started(spec: Record<string, unknown>): Promise<PipelineHandle> {
  const handle = await pipeline(spec);
  handles.push(handle);
  return handle;
}

const secret = (name: string, value: string, annotations?: Record<string, string>) => ({
  apiVersion: 'v1', kind: 'Secret', metadata: { name, ...(annotations ? { annotations } : {}) }, stringData: { value },
});

/** A Secret as if copied from the mirror or a stand-by: lifeboat's ciphertext annotation next to real data. */
const poison = (name: string) => secret(name, 'plain', { 'lifeboat.dev/encrypted-data': '-----BEGIN AGE ENCRYPTED FILE-----\nnot lifeboat\'s\n-----END AGE ENCRYPTED FILE-----\n' });

const status = (handle: PipelineHandle): Promise<PlanStatus> => handle.runtime.runners.get(handle.plan)!.status();

async function metric(handle: PipelineHandle, line: RegExp): Promise<string | undefined> {
  return (await handle.metrics.registry.metrics()).split('\n').find((text) => line.test(text));
}

async function statusTable(handle: PipelineHandle): Promise<string> {
  const info = await sandbox();
  await handle.runtime.runners.get(handle.plan)!.publishStatus();
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'status', '--plans', handle.plansDir], { env: { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl } });
  return stdout;
}

test('a Secret carrying lifeboat\'s ciphertext annotation is named in status and skipped; the other Secrets replicate, across a restart, and status clears once it is deleted', async (t) => {
  const ns = uniqueName('poison');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  const secrets = `/api/v1/namespaces/${ns}/secrets`;
  await source.request('POST', secrets, secret('before', 'one'));
  await source.request('POST', secrets, poison('copied'));
  await source.request('POST', secrets, secret('after', 'two'));
  await handle.start();

  const decrypted = async (name: string) => {
    const object = await get<{ data?: Record<string, string> }>(destination, `${secrets}/${name}`);
    return object && Buffer.from(object.data?.value ?? '', 'base64').toString();
  };
  t.is(await eventually('the Secret listed before the poison one', () => decrypted('before'), (value) => value !== undefined), 'one');
  t.is(await eventually('the Secret listed after it', () => decrypted('after'), (value) => value !== undefined), 'two');
  t.is(await get(destination, `${secrets}/copied`), undefined, 'never applied: its ciphertext is not lifeboat\'s');

  const failing = await eventually('the poison Secret in status', () => status(handle), (s) => s.failing.length > 0);
  t.is(failing.failingObjects, 1);
  t.like(failing.failing[0], { object: `Secret ${ns}/copied`, stage: 'listener' });
  t.regex(failing.failing[0]!.reason, /carries lifeboat\.dev\/encrypted-data, which only lifeboat writes.*remove it in the source/);
  t.deepEqual(failing.stalls, [], 'one object never stalls the plan');
  t.regex(await metric(handle, /^lifeboat_failing_objects\{/) ?? '', new RegExp(`^lifeboat_failing_objects\\{plan="${handle.plan}",stage="listener"\\} 1$`));
  const table = await statusTable(handle);
  t.regex(table, new RegExp(`${handle.plan}\\s+[0-9a-f]{12}\\s+degraded: 1 object failing\\s+\\d+\\s+\\S+\\s+1\\s`), table);
  t.regex(table, new RegExp(`✘ Secret ${ns}/copied: listener: cannot be published: .*encrypted-data`), table);
  t.true(handle.runtime.ready(), 'a single failing object does not make the process unready');

  // The watch goes on past it: changes to the poison Secret and new Secrets after it, within seconds.
  const watched = Date.now();
  await source.request('PUT', `${secrets}/copied`, { ...poison('copied'), stringData: { value: 'changed' } });
  await source.request('POST', secrets, secret('watched', 'three'));
  t.is(await eventually('a Secret created after the poison one changed', () => decrypted('watched'), (value) => value !== undefined, 15_000), 'three');
  t.log(`a Secret created after the poison one changed reached the stand-by in ${((Date.now() - watched) / 1000).toFixed(1)} s`);
  t.true((await status(handle)).failing[0]!.count >= 2, 'counted again on each change');

  // A restart resumes past it (the checkpoint moved on), and the reconciler names it again.
  await handle.stop();
  await handle.start();
  await source.request('POST', secrets, secret('restarted', 'four'));
  t.is(await eventually('a Secret created after the restart', () => decrypted('restarted'), (value) => value !== undefined, 15_000), 'four');
  t.like((await eventually('the poison Secret named after the restart', () => status(handle), (s) => s.failing.length > 0)).failing[0], { object: `Secret ${ns}/copied` });

  // Deleted: the failure clears, status is in sync again.
  await source.request('DELETE', `${secrets}/copied`);
  const cleared = await eventually('status cleared', () => status(handle), (s) => s.failingObjects === 0 && s.appliedHead === s.mirrorHead);
  t.deepEqual(cleared.failing, []);
  t.regex(await metric(handle, /^lifeboat_failing_objects\{/) ?? '', / 0$/);
  t.regex(await statusTable(handle), new RegExp(`${handle.plan}\\s+[0-9a-f]{12}\\s+in sync\\s+\\d+\\s+\\S+\\s+0\\s`));
});

test('ready means replicated: the first time readiness says ready, the objects are at the destination', async (t) => {
  const ns = uniqueName('ready');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('first', { ready: 'means replicated' }));
  // Asked on every turn of the event loop while the runtime starts, as a tight /readyz probe would.
  let readyAt: number | undefined;
  let asking = true;
  const ask = () => {
    if (handle.runtime.readiness().ready) readyAt = Date.now();
    else if (asking) setImmediate(ask);
  };
  ask();
  t.teardown(() => (asking = false));
  await handle.runtime.start();
  await waitFor('ready', () => readyAt !== undefined, 120_000, 20);
  t.truthy(await get(handle.destination, `/api/v1/namespaces/${ns}/configmaps/first`), 'at the destination when first ready');
});

test('a read-only mirror (EROFS) shows in status, /readyz and lifeboat_stalled; lifeboat_ready agrees with /readyz; replication resumes once it is writable', async (t) => {
  const ns = uniqueName('erofs');
  const handle = await started({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await handle.start();
  const server = await serveMetrics(handle.metrics, '127.0.0.1:0', () => handle.runtime.readiness());
  t.teardown(() => server.close());
  const probe = async () => {
    const readyz = await fetch(`http://${server.address}/readyz`);
    const metrics = await (await fetch(`http://${server.address}/metrics`)).text();
    const value = (name: string) => metrics.split('\n').find((line) => line.startsWith(name))?.split(' ').pop();
    return { status: readyz.status, body: await readyz.text(), ready: value('lifeboat_ready '), stalled: value(`lifeboat_stalled{plan="${handle.plan}",component="mirror"}`) };
  };
  t.like(await probe(), { status: 200, ready: '1' });

  // The mirror's file system goes read-only, as a remounted or full volume does: every write fails with EROFS.
  const gitdir = handle.mirror.gitdir;
  execFileSync('mount', ['--bind', gitdir, gitdir]);
  let mounted = true;
  const unmount = () => {
    if (mounted) execFileSync('umount', [gitdir]);
    mounted = false;
  };
  t.teardown(unmount);
  execFileSync('mount', ['-o', 'remount,bind,ro', gitdir]);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('waiting', { for: 'the mirror' }));

  const stalled = await eventually('the mirror stall in status', () => status(handle), (s) => s.stalls.length > 0);
  t.like(stalled.stalls[0], { component: 'mirror', summary: 'mirror not writable' });
  t.regex(stalled.stalls[0]!.error, /EROFS/);
  const unready = await eventually('/readyz 503', probe, (answer) => answer.status === 503);
  t.regex(unready.body, new RegExp(`^plan ${handle.plan}: mirror not writable since \\S+: .*EROFS`));
  t.is(unready.ready, '0', 'lifeboat_ready agrees with /readyz');
  await handle.runtime.runners.get(handle.plan)!.publishStatus();
  t.is((await probe()).stalled, '1');
  t.regex(await statusTable(handle), new RegExp(`${handle.plan}\\s+\\S+\\s+mirror not writable\\s.*\\n[^]*✘ mirror not writable since \\S+: .*EROFS`));

  unmount();
  const writable = Date.now();
  await eventually('the ConfigMap once the mirror is writable', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/waiting`), (c) => c !== undefined, 30_000);
  t.log(`replicating again ${((Date.now() - writable) / 1000).toFixed(1)} s after the mirror became writable`);
  const recovered = await eventually('/readyz 200 again', probe, (answer) => answer.status === 200);
  t.is(recovered.ready, '1');
  await handle.runtime.runners.get(handle.plan)!.publishStatus();
  t.is((await probe()).stalled, '0');
  t.deepEqual((await status(handle)).stalls, []);
});

/**
 * A NATS of this test's own whose events stream refuses messages over 300 KiB, as an operator may limit a stream
 * (max_msg_size); messages over the server's max_payload still travel by reference through LIFEBOAT_BLOBS.
 */
async function limitedNats(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-nats-'));
  const binary = locateBinaries().natsServer;
  const { pid } = startDetached(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream')], path.join(dir, 'nats-server.log'));
  t.teardown(async () => {
    await stopProcess(pid, path.basename(binary), 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const url = `nats://127.0.0.1:${port}`;
  let connection: Awaited<ReturnType<typeof connect>> | undefined;
  await waitFor('the test\'s nats-server', async () => (connection = await connect({ servers: url }).catch(() => undefined)) !== undefined, 30_000, 200);
  const jsm = await jetstreamManager(connection!);
  await jsm.streams.add({ name: 'LIFEBOAT_EVENTS', subjects: ['lifeboat.events.>'], max_age: nanos(3600_000), duplicate_window: nanos(120_000), max_msg_size: 300 * 1024 });
  await connection!.close();
  return url;
}

test('an object the bus refuses (over the events stream\'s max_msg_size) is named and skipped; its kind keeps replicating; deleting it clears status', async (t) => {
  const ns = uniqueName('refused');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] } }, { natsUrl: await limitedNats(t) });
  t.teardown(() => handle.close()); // before its NATS stops (teardowns run last first)
  const { source, destination } = handle;
  await createNamespace(source, ns);
  const secrets = `/api/v1/namespaces/${ns}/secrets`;
  const configmaps = `/api/v1/namespaces/${ns}/configmaps`;
  await source.request('POST', secrets, secret('small', 'one'));
  await handle.start();

  // Watched: a 600 KB Secret travels as itself (under max_payload) and the stream refuses it; a 1 MiB ConfigMap
  // (1.5 MiB as JSON: its newlines are escaped) travels by reference and goes through; so do the small objects.
  await source.request('POST', secrets, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'large' }, data: { blob: randomBytes(450 * 1024).toString('base64') } });
  const bigText = 'x\n'.repeat(500 * 1024);
  await source.request('POST', configmaps, configMap('large', { text: bigText }));
  await source.request('POST', secrets, secret('after', 'two'));
  const watched = Date.now();
  await eventually('the Secret created after the refused one', () => get(destination, `${secrets}/after`), (s) => s !== undefined, 30_000);
  t.log(`the Secret created after the refused one reached the stand-by in ${((Date.now() - watched) / 1000).toFixed(1)} s`);
  t.is((await eventually('the 1 MiB ConfigMap', () => get<{ data?: Record<string, string> }>(destination, `${configmaps}/large`), (c) => c !== undefined, 30_000))?.data?.text, bigText);
  t.is(await get(destination, `${secrets}/large`), undefined);

  const failing = await eventually('the refused Secret in status', () => status(handle), (s) => s.failing.length > 0);
  t.like(failing.failing[0], { object: `Secret ${ns}/large`, stage: 'listener' });
  t.regex(failing.failing[0]!.reason, /^cannot be published: .*maximum/i);
  t.deepEqual(failing.stalls, []);
  const table = await statusTable(handle);
  t.regex(table, new RegExp(`${handle.plan}\\s+[0-9a-f]{12}\\s+degraded: \\d+ objects? failing\\s`), table);
  t.regex(table, new RegExp(`✘ Secret ${ns}/large: listener: cannot be published: message size exceeds maximum allowed`), table);

  // Deleted: the delete goes through (as the Secret's identity) and status clears.
  await source.request('DELETE', `${secrets}/large`);
  await source.request('POST', secrets, secret('last', 'three'));
  await eventually('a Secret created after the delete', () => get(destination, `${secrets}/last`), (s) => s !== undefined, 30_000);
  const cleared = await eventually('status cleared', () => status(handle), (s) => s.failingObjects === 0);
  t.deepEqual(cleared.failing, []);
});
