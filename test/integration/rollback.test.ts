// `lifeboat rollback`, `revert` and `resume` against a running pipeline: the mirror gets a new commit, the stand-by
// follows, and capture of the restored objects pauses until resumed.
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { commitMessage, MirrorRepository } from '../../src/mirror/repository.ts';
import { configMap, createNamespace, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { startGitServer } from '../helpers/git-server.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

/** git and friends, asynchronously (the git HTTP server runs in this process). */
const run = async (command: string, args: string[]) => (await promisify(execFile)(command, args)).stdout;

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
type Obj = { data?: Record<string, string> };

async function lifeboat(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const info = await sandbox();
  const env = { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_NATS_URL: info.natsUrl };
  return new Promise((resolve) => execFile(process.execPath, [cli, ...args], { env }, (error, stdout, stderr) =>
    resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr })));
}

async function setData(handle: PipelineHandle, path: string, data: Record<string, string>): Promise<void> {
  await handle.source.request('PUT', path, { ...(await get<Record<string, unknown>>(handle.source, path)), data });
}

/** A running pipeline for one fresh namespace, created in the source. */
async function started(t: ExecutionContext, prefix: string, options: { mirrorRemote?: string } = {}): Promise<{ ns: string; handle: PipelineHandle }> {
  const ns = uniqueName(prefix);
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } }, options);
  t.teardown(() => handle.close());
  await handle.start();
  await createNamespace(handle.source, ns);
  return { ns, handle };
}

test('rollback restores a revision at the stand-by and pauses capture until resume', async (t) => {
  const { ns, handle } = await started(t, 'rb');
  const { source, destination, plan } = handle;
  const settings = `/api/v1/namespaces/${ns}/configmaps/settings`;
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await eventually('good at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'good');
  const good = (await handle.mirror.head())!;
  await setData(handle, settings, { mode: 'corrupt' });
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('later', { a: '1' }));
  await eventually('corrupt at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'corrupt');
  await eventually('later at the stand-by', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/later`), (cm) => cm !== undefined);

  const rollback = await lifeboat('rollback', plan, '--to', good.slice(0, 10), '--mirror', handle.mirror.gitdir);
  t.is(rollback.code, 0, rollback.stderr);
  t.regex(rollback.stdout, new RegExp(`committed [0-9a-f]{12}: rollback\\(${plan}\\): to ${good.slice(0, 12)} \\(2 objects\\)`));
  await eventually('good again at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'good');
  await eventually('later removed at the stand-by', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/later`), (cm) => cm === undefined);
  const [commit] = await handle.mirror.log(1);
  t.regex(commit!.message, new RegExp(`Rollback-To: ${good}`));

  // Paused: the next source change to those objects does not undo the rollback.
  await setData(handle, settings, { mode: 'corrupt-again' });
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('unrelated', { a: '1' }));
  await eventually('an unrelated object still replicates', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/unrelated`), (cm) => cm !== undefined);
  t.is((await get<Obj>(destination, settings))?.data?.mode, 'good');
  t.is((await handle.runtime.runners.get(plan)!.status()).paused, 2);

  const resume = await lifeboat('resume', plan);
  t.regex(resume.stdout, /resumed capture of 2 objects/);
  await handle.runtime.runners.get(plan)!.reconcile();
  await eventually('the source state again after resume', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'corrupt-again');
});

test('revert undoes one commit; it refuses when later commits changed the same objects, unless --force', async (t) => {
  const { ns, handle } = await started(t, 'rv');
  const { source, destination, plan } = handle;
  const path = (name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('a', { v: '1' }));
  await eventually('a', () => get(destination, path('a')), (cm) => cm !== undefined);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('bad', { v: 'oops' }));
  await eventually('bad', () => get(destination, path('bad')), (cm) => cm !== undefined);
  const bad = (await handle.mirror.head())!;
  await setData(handle, path('a'), { v: '2' });
  await eventually('a=2', () => get<Obj>(destination, path('a')), (cm) => cm?.data?.v === '2');
  const changedA = (await handle.mirror.head())!;

  const revert = await lifeboat('revert', plan, bad, '--mirror', handle.mirror.gitdir);
  t.is(revert.code, 0, revert.stderr);
  await eventually('bad reverted at the stand-by', () => get(destination, path('bad')), (cm) => cm === undefined);
  t.is((await get<Obj>(destination, path('a')))?.data?.v, '2', 'a later, unrelated change stays');

  await setData(handle, path('a'), { v: '3' });
  await eventually('a=3', () => get<Obj>(destination, path('a')), (cm) => cm?.data?.v === '3');
  const refused = await lifeboat('revert', plan, changedA, '--mirror', handle.mirror.gitdir);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^lifeboat: later commits changed 1 of the objects [0-9a-f]{12} changed \(.*ConfigMap\/a\.yaml\); reverting would undo those changes too\. Roll back to a revision instead, or pass --force\n$/);
  const forced = await lifeboat('revert', plan, changedA, '--force', '--mirror', handle.mirror.gitdir);
  t.is(forced.code, 0, forced.stderr);
  await eventually('a=1 after the forced revert', () => get<Obj>(destination, path('a')), (cm) => cm?.data?.v === '1');
});

test('a plain git revert pushed to the mirror remote is applied the same way, and lifeboat commits on top of it', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-remote-'));
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(root, 'mirror.git')]);
  const server = await startGitServer(root);
  t.teardown(() => server.close());
  const { ns, handle } = await started(t, 'gr', { mirrorRemote: `${server.url}/mirror.git` });
  const { source, destination, plan } = handle;
  const settings = `/api/v1/namespaces/${ns}/configmaps/settings`;
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await eventually('good at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'good');
  await setData(handle, settings, { mode: 'corrupt' });
  await eventually('corrupt at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'corrupt');
  const corrupt = (await handle.mirror.head())!;
  await eventually('pushed', async () => (await run('git', ['--git-dir', path.join(root, 'mirror.git'), 'rev-parse', 'main'])).trim(), (head) => head === corrupt);

  // A person reverts the bad commit with plain git and pushes it.
  const work = path.join(root, 'work');
  await run('git', ['clone', '-q', `${server.url}/mirror.git`, work]);
  await run('git', ['-C', work, '-c', 'user.name=oncall', '-c', 'user.email=oncall@example.com', 'revert', '--no-edit', corrupt]);
  await run('git', ['-C', work, 'push', '-q', 'origin', 'main']);
  const reverted = (await run('git', ['-C', work, 'rev-parse', 'HEAD'])).trim();

  await eventually('good again at the stand-by', () => get<Obj>(destination, settings), (cm) => cm?.data?.mode === 'good', 30_000);
  t.is(await handle.mirror.head(), reverted, 'the local mirror was fast-forwarded to the pushed revert');
  t.true((await handle.state.pausedPaths(plan)).has(`${plan}/namespaces/${ns}/ConfigMap/settings.yaml`), 'capture of the reverted object is paused');
  // Lifeboat's next batch goes on top of the revert (and is pushed).
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('next', { a: '1' }));
  await eventually('next at the stand-by', () => get(destination, `/api/v1/namespaces/${ns}/configmaps/next`), (cm) => cm !== undefined);
  const [top] = await handle.mirror.log(1);
  t.deepEqual(top!.parents, [reverted]);
  await eventually('pushed on top', async () => (await run('git', ['--git-dir', path.join(root, 'mirror.git'), 'rev-parse', 'main'])).trim(), (head) => head === top!.oid);
});

test('commits another lifeboat process captured and pushed to the mirror remote are replication, not a person\'s: only a person\'s commit pauses capture', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-remote-'));
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(root, 'mirror.git')]);
  const server = await startGitServer(root);
  t.teardown(() => server.close());
  const { ns, handle } = await started(t, 'gl', { mirrorRemote: `${server.url}/mirror.git` });
  const { source, destination, plan } = handle;
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await eventually('good at the stand-by', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), (cm) => cm?.data?.mode === 'good');
  const pushed = (await handle.mirror.head())!;
  await eventually('pushed', async () => (await run('git', ['--git-dir', path.join(root, 'mirror.git'), 'rev-parse', 'main'])).trim(), (head) => head === pushed);

  // Another lifeboat process (its own clone of the mirror) commits a captured batch, as its mirror writer does, and pushes.
  const other = path.join(root, 'other.git');
  await run('git', ['clone', '-q', '--bare', `${server.url}/mirror.git`, other]);
  const otherMirror = await MirrorRepository.open(other);
  const captured = `${plan}/namespaces/${ns}/ConfigMap/captured.yaml`;
  const batch = await otherMirror.commit([{ path: captured, content: stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'captured', namespace: ns }, data: { from: 'elsewhere' } }) }],
    commitMessage(`sync(${plan}): 1 created`, [`created ${captured}`], { Plan: plan, 'Plan-Revision': 'other', 'Source-Cluster': 'source', Batch: `${plan}-other-1` }));
  await run('git', ['--git-dir', other, 'push', '-q', `${server.url}/mirror.git`, 'main']);
  await eventually('the local mirror fast-forwarded to the other process\'s batch', () => handle.mirror.head(), (head) => head === batch!.oid, 30_000);
  await eventually('its object at the stand-by', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/captured`), (cm) => cm?.data?.from === 'elsewhere');
  t.deepEqual([...(await handle.state.pausedPaths(plan))], [], 'a captured batch pauses nothing');

  // A person's commit on top of it, with plain git: only what it changed is paused.
  const work = path.join(root, 'work');
  await run('git', ['clone', '-q', `${server.url}/mirror.git`, work]);
  const settingsFile = path.join(work, plan, 'namespaces', ns, 'ConfigMap', 'settings.yaml');
  fs.writeFileSync(settingsFile, fs.readFileSync(settingsFile, 'utf8').replace('mode: good', 'mode: fixed'));
  await run('git', ['-C', work, '-c', 'user.name=oncall', '-c', 'user.email=oncall@example.com', 'commit', '-qam', 'fix settings']);
  await run('git', ['-C', work, 'push', '-q', 'origin', 'main']);
  await eventually('fixed at the stand-by', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), (cm) => cm?.data?.mode === 'fixed', 30_000);
  t.deepEqual([...(await handle.state.pausedPaths(plan))], [`${plan}/namespaces/${ns}/ConfigMap/settings.yaml`]);
});
