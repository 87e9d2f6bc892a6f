// The history index on real repositories: `lifeboat history` reads what each commit changed from the index, and the
// index is only a cache — deleted, cut short, or missing the commits another git client made, the history is the
// same as the one read from git itself.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planHistory } from '../../src/mirror/history.ts';
import { historyIndexName, indexedHistory } from '../../src/mirror/history-index.ts';
import { commitMessage, MirrorRepository } from '../../src/mirror/repository.ts';

const gitCli = (gitdir: string, ...args: string[]) => execFileSync('git', [`--git-dir=${gitdir}`, ...args], { encoding: 'utf8' });
const file = (name: string) => `shop/namespaces/shop/ConfigMap/${name}.yaml`;

async function mirrorWithCommits(count: number): Promise<MirrorRepository> {
  const gitdir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-index-')), 'mirror.git');
  const mirror = await MirrorRepository.open(gitdir);
  for (let index = 0; index < count; index++) {
    // c-0 changes every 10th commit; the others one new or changed ConfigMap each.
    const name = index % 10 === 0 ? 'c-0' : `c-${index % 7}`;
    await mirror.commit([{ path: file(name), content: `n: "${index}"\n` }], (applied) =>
      commitMessage(`sync(shop): ${index}`, applied.map((change) => `${change.type} ${change.path}`), { Plan: 'shop', 'Plan-Revision': `r${index}` }));
  }
  return mirror;
}

/** What git itself says: every commit of the branch, newest first, with its changed paths. */
function gitHistory(gitdir: string): { oid: string; paths: string[] }[] {
  return gitCli(gitdir, 'log', '--first-parent', '--format=%x00%H', '--name-only', 'main').split('\0').filter(Boolean)
    .map((entry) => {
      const [oid, ...paths] = entry.split('\n').filter(Boolean);
      return { oid: oid!, paths };
    });
}

test('history by object matches git log -- PATH, from the index, after the index is deleted, and after it is cut short', async (t) => {
  const mirror = await mirrorWithCommits(60);
  t.teardown(() => fs.rmSync(path.dirname(mirror.gitdir), { recursive: true, force: true }));
  const indexFile = path.join(mirror.gitdir, historyIndexName);
  t.is(fs.readFileSync(indexFile, 'utf8').trim().split('\n').length, 60, 'one line per commit, written as it was made');
  const expected = gitCli(mirror.gitdir, 'log', '--first-parent', '--format=%H', 'main', '--', file('c-0')).trim().split('\n');
  const byObject = async (repository: MirrorRepository) =>
    (await planHistory(repository, 'shop', 'shop', { object: { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'c-0' } })).map((entry) => entry.revision);
  t.deepEqual(await byObject(mirror), expected);

  fs.rmSync(indexFile);
  t.deepEqual(await byObject(await MirrorRepository.open(mirror.gitdir)), expected, 'no index: rebuilt from git');
  t.is(fs.readFileSync(indexFile, 'utf8').trim().split('\n').length, 60, 'and written again');

  // A crash in the middle of an append: the last line half written, and the 20 newest commits missing.
  const lines = fs.readFileSync(indexFile, 'utf8').split('\n');
  const oldest40 = lines.slice(20, 60); // rebuilt oldest first
  fs.writeFileSync(indexFile, `${oldest40.slice(0, 39).join('\n')}\n${oldest40[39]!.slice(0, 25)}`);
  t.deepEqual(await byObject(await MirrorRepository.open(mirror.gitdir)), expected, 'partial index: the rest read from git');
});

test('commits made by git itself (a revert pushed by a person) are in the history with what they changed', async (t) => {
  const mirror = await mirrorWithCommits(5);
  t.teardown(() => fs.rmSync(path.dirname(mirror.gitdir), { recursive: true, force: true }));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-index-work-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  execFileSync('git', ['clone', '-q', mirror.gitdir, work]);
  const inWork = (...args: string[]) => execFileSync('git', ['-C', work, '-c', 'user.name=Pat', '-c', 'user.email=pat@example.com', ...args], { encoding: 'utf8' });
  inWork('revert', '--no-edit', 'HEAD');
  inWork('commit', '--amend', '-q', '-m', `Revert one sync\n\nPlan: shop\nPlan-Revision: manual`);
  inWork('push', '-q', 'origin', 'main');

  const reopened = await MirrorRepository.open(mirror.gitdir);
  const history = await indexedHistory(reopened);
  const truth = gitHistory(mirror.gitdir);
  t.deepEqual(history.map((commit) => commit.oid), truth.map((commit) => commit.oid));
  t.deepEqual(history.map((commit) => commit.changes.map((change) => change.split(' ')[1]).sort()), truth.map((commit) => commit.paths.sort()));
  const entries = await planHistory(reopened, 'shop', 'shop', {});
  t.is(entries[0]!.summary, 'Revert one sync');
  t.is(entries[0]!.planRevision, 'manual');
  t.deepEqual(entries[0]!.changes, ['deleted ConfigMap shop/c-4'], 'the revert of the commit that created c-4');
});
