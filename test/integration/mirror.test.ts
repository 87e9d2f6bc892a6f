// The git mirror against the real git command line: commits built from trees are valid (git fsck), carry the
// message and trailers, never empty, and tree diffs between commits name exactly what changed.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MirrorPusher } from '../../src/mirror/pusher.ts';
import { MirrorRepository, commitMessage, parseTrailers } from '../../src/mirror/repository.ts';
import { startGitServer } from '../helpers/git-server.ts';

const gitCli = (gitdir: string, ...args: string[]) => execFileSync('git', [`--git-dir=${gitdir}`, ...args], { encoding: 'utf8' });
const tempRepo = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-mirror-')), 'mirror.git');

test('commits are valid git objects with message and trailers, and real git reads them', async (t) => {
  const gitdir = tempRepo();
  const mirror = await MirrorRepository.open(gitdir);
  const message = commitMessage('sync(shop): 2 created', ['created ConfigMap shop/a', 'created ConfigMap shop/b'], { Plan: 'shop', Batch: '1' });
  const first = await mirror.commit([
    { path: 'shop/namespaces/shop/ConfigMap/a.yaml', content: 'a: 1\n' },
    { path: 'shop/namespaces/shop/ConfigMap/b.yaml', content: 'b: 1\n' },
  ], message);
  t.truthy(first);
  t.deepEqual(first?.changes.map((c) => [c.path, c.type]), [
    ['shop/namespaces/shop/ConfigMap/a.yaml', 'created'], ['shop/namespaces/shop/ConfigMap/b.yaml', 'created']]);
  t.notThrows(() => gitCli(gitdir, 'fsck', '--strict', '--no-dangling'));
  t.is(gitCli(gitdir, 'show', `main:shop/namespaces/shop/ConfigMap/a.yaml`), 'a: 1\n');
  const logged = gitCli(gitdir, 'log', '-1', '--format=%B', 'main');
  t.is(logged.trim(), message.trim());
  t.deepEqual(parseTrailers(logged), { Plan: 'shop', Batch: '1' });
});

test('a big commit is stored as one pack file that real git verifies and reads; small commits stay loose objects', async (t) => {
  const gitdir = tempRepo();
  const mirror = await MirrorRepository.open(gitdir);
  const files = Array.from({ length: 300 }, (_, index) => ({ path: `p/namespaces/ns-${index % 7}/ConfigMap/c-${index}.yaml`, content: `index: "${index}"\n${'x'.repeat(index)}\n` }));
  const first = await mirror.commit(files, 'initial sync');
  t.is(first?.changes.length, 300);
  const packs = fs.readdirSync(path.join(gitdir, 'objects', 'pack'));
  t.deepEqual(packs.map((file) => path.extname(file)).sort(), ['.idx', '.pack']);
  t.notThrows(() => gitCli(gitdir, 'verify-pack', '-v', path.join(gitdir, 'objects', 'pack', packs.find((file) => file.endsWith('.idx'))!)));
  t.notThrows(() => gitCli(gitdir, 'fsck', '--strict', '--no-dangling', '--full'));
  const counts = Object.fromEntries(gitCli(gitdir, 'count-objects', '-v').trim().split('\n').map((line) => line.split(': ')));
  t.is(Number(counts['in-pack']), 300 + 7 + 7 + 3 + 1); // blobs; a tree per namespace and per kind in it; p/namespaces, p, the root; the commit
  t.is(gitCli(gitdir, 'show', 'main:p/namespaces/ns-3/ConfigMap/c-10.yaml'), `index: "10"\n${'x'.repeat(10)}\n`);

  const small = await mirror.commit([{ path: 'p/namespaces/ns-3/ConfigMap/c-10.yaml', content: 'changed\n' }], 'one change');
  t.is(small?.changes.length, 1);
  t.is(fs.readdirSync(path.join(gitdir, 'objects', 'pack')).length, 2, 'no new pack for a small commit');
  t.notThrows(() => gitCli(gitdir, 'fsck', '--strict', '--no-dangling', '--full'));

  // A fresh process (no cache) reads the packed objects, and diffs packed trees against loose ones.
  const reopened = await MirrorRepository.open(gitdir);
  const listed = await reopened.files(small!.oid, 'p');
  t.is(listed.size, 300);
  t.is(await reopened.readText(listed.get('p/namespaces/ns-5/ConfigMap/c-299.yaml')!), `index: "299"\n${'x'.repeat(299)}\n`);
  t.deepEqual((await reopened.diff(first!.oid, small!.oid, 'p')).map((change) => [change.path, change.type]), [['p/namespaces/ns-3/ConfigMap/c-10.yaml', 'updated']]);
});

test('no commit when nothing changes; updates and deletes prune empty directories', async (t) => {
  const gitdir = tempRepo();
  const mirror = await MirrorRepository.open(gitdir);
  const first = await mirror.commit([
    { path: 'p/namespaces/a/ConfigMap/x.yaml', content: 'x\n' },
    { path: 'p/namespaces/b/ConfigMap/y.yaml', content: 'y\n' },
  ], 'first');
  t.is(await mirror.commit([{ path: 'p/namespaces/a/ConfigMap/x.yaml', content: 'x\n' }], 'same'), undefined);
  t.is(await mirror.commit([{ path: 'p/namespaces/zzz/ConfigMap/none.yaml', content: null }], 'delete missing'), undefined);
  const second = await mirror.commit([
    { path: 'p/namespaces/a/ConfigMap/x.yaml', content: 'x2\n' },
    { path: 'p/namespaces/b/ConfigMap/y.yaml', content: null },
  ], 'second');
  t.deepEqual(second?.changes.map((c) => [c.path, c.type]), [['p/namespaces/a/ConfigMap/x.yaml', 'updated'], ['p/namespaces/b/ConfigMap/y.yaml', 'deleted']]);
  t.is(gitCli(gitdir, 'ls-tree', '-r', '--name-only', 'main').trim(), 'p/namespaces/a/ConfigMap/x.yaml');
  t.is(gitCli(gitdir, 'rev-list', '--count', 'main').trim(), '2');
  const diff = await mirror.diff(first?.oid, second!.oid, 'p');
  t.deepEqual(diff.map((c) => [c.path, c.type]), [['p/namespaces/a/ConfigMap/x.yaml', 'updated'], ['p/namespaces/b/ConfigMap/y.yaml', 'deleted']]);
  t.notThrows(() => gitCli(gitdir, 'fsck', '--strict', '--no-dangling'));
});

test('plans live side by side; files and diffs can be limited to one plan', async (t) => {
  const gitdir = tempRepo();
  const mirror = await MirrorRepository.open(gitdir);
  const first = await mirror.commit([{ path: 'a/cluster/Namespace/n1.yaml', content: '1\n' }, { path: 'ab/cluster/Namespace/n2.yaml', content: '2\n' }], 'one');
  const second = await mirror.commit([{ path: 'ab/cluster/Namespace/n2.yaml', content: '3\n' }], 'two');
  t.deepEqual([...(await mirror.files(second?.oid, 'a')).keys()], ['a/cluster/Namespace/n1.yaml']);
  t.deepEqual(await mirror.diff(first?.oid, second!.oid, 'a'), []);
  t.is((await mirror.diff(first?.oid, second!.oid, 'ab')).length, 1);
  t.is(await mirror.resolve(second!.oid.slice(0, 8)), second!.oid);
  t.is(await mirror.resolve('main'), second!.oid);
  await t.throwsAsync(mirror.resolve('nope'), { message: /unknown revision "nope"/ });
  t.deepEqual((await mirror.log()).map((entry) => entry.message.trim()), ['two', 'one']);
});

test('paths that escape the plan directory are refused', async (t) => {
  const mirror = await MirrorRepository.open(tempRepo());
  await t.throwsAsync(mirror.commit([{ path: '../x.yaml', content: 'x' }], 'bad'), { message: 'invalid mirror path "../x.yaml"' });
  await t.throwsAsync(mirror.commit([{ path: 'a//b.yaml', content: 'x' }], 'bad'), { message: 'invalid mirror path "a//b.yaml"' });
});

test('the mirror is pushed to an HTTP remote after commits; a refused push is reported and retried', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-push-'));
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(root, 'remote.git')]);
  const server = await startGitServer(root, { token: 'push-token' });
  t.teardown(() => server.close());
  const mirror = await MirrorRepository.open(path.join(root, 'local.git'));
  const errors: string[] = [];
  const pusher = new MirrorPusher(mirror, `${server.url}/remote.git`, { token: 'push-token', onError: (error) => errors.push(error.message) });
  await mirror.commit([{ path: 'p/cluster/Namespace/a.yaml', content: 'a\n' }], 'one');
  await pusher.request();
  const second = await mirror.commit([{ path: 'p/cluster/Namespace/b.yaml', content: 'b\n' }], 'two');
  await Promise.all([pusher.request(), pusher.request()]);
  t.is(gitCli(path.join(root, 'remote.git'), 'rev-parse', 'main').trim(), second!.oid);
  t.deepEqual(errors, []);

  const refused = new MirrorPusher(mirror, `${server.url}/remote.git`, { token: 'wrong', onError: (error) => errors.push(error.message) });
  await mirror.commit([{ path: 'p/cluster/Namespace/c.yaml', content: 'c\n' }], 'three');
  const attempt = refused.request();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.true(errors.length >= 1, 'the failed push is reported');
  t.is(gitCli(path.join(root, 'remote.git'), 'rev-parse', 'main').trim(), second!.oid, 'the remote is unchanged');
  void attempt.catch(() => undefined);
});

test('writers in different processes on one mirror branch never lose a commit (ref updates are exclusive, as git makes them)', async (t) => {
  t.timeout(3 * 60_000);
  const gitdir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-writers-')), 'mirror.git');
  await MirrorRepository.open(gitdir);
  const script = new URL('../fixtures/scripts/mirror-committer.ts', import.meta.url).pathname;
  const writers = ['alpha', 'beta', 'gamma'];
  const perWriter = 150;
  const outputs = await Promise.all(writers.map((plan) => promisify(execFile)(process.execPath, [script, gitdir, plan, String(perWriter)], { maxBuffer: 16 * 1024 * 1024 })));
  const made = outputs.flatMap((output) => output.stdout.trim().split('\n'));
  t.is(made.length, writers.length * perWriter, 'every commit reported made');
  // Every commit each writer made is on the branch, and the branch's tree has every file.
  const history = new Set((await promisify(execFile)('git', ['--git-dir', gitdir, 'rev-list', 'main'])).stdout.trim().split('\n'));
  t.deepEqual(made.filter((oid) => !history.has(oid)), [], 'commits lost from the branch');
  const files = (await promisify(execFile)('git', ['--git-dir', gitdir, 'ls-tree', '-r', '--name-only', 'main'], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim().split('\n');
  t.is(files.length, writers.length * perWriter);
  await promisify(execFile)('git', ['--git-dir', gitdir, 'fsck', '--strict']);
  t.false(fs.existsSync(path.join(gitdir, 'refs', 'heads', 'main.lock')));
});
