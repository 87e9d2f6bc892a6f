// Revisions as a git user types them: parsed into a base and parent steps, and resolved in a mirror repository on
// disk (a temporary bare repository; no servers).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MirrorRepository, parseRevision } from '../../src/mirror/repository.ts';

const parses: [string, ReturnType<typeof parseRevision>][] = [
  ['HEAD', { base: 'HEAD', parents: [] }],
  ['@', { base: '@', parents: [] }],
  ['HEAD~', { base: 'HEAD', parents: [1] }],
  ['HEAD~3', { base: 'HEAD', parents: [1, 1, 1] }],
  ['HEAD~0', { base: 'HEAD', parents: [] }],
  ['HEAD^', { base: 'HEAD', parents: [1] }],
  ['HEAD^^', { base: 'HEAD', parents: [1, 1] }],
  ['HEAD^2', { base: 'HEAD', parents: [2] }],
  ['HEAD^0', { base: 'HEAD', parents: [] }],
  ['HEAD~2^2~1', { base: 'HEAD', parents: [1, 1, 2, 1] }],
  ['main~1', { base: 'main', parents: [1] }],
  ['v1.2.0^', { base: 'v1.2.0', parents: [1] }],
  ['3f2a9c1', { base: '3f2a9c1', parents: [] }],
  ['release/2026-11', { base: 'release/2026-11', parents: [] }],
  ['~1', undefined],
  ['^', undefined],
  ['', undefined],
  ['HEAD ~1', undefined],
  ['HEAD~1000000', undefined],
];

for (const [text, expected] of parses) {
  test(`parseRevision(${JSON.stringify(text)})`, (t) => {
    t.deepEqual(parseRevision(text), expected);
  });
}

test('resolve: HEAD, HEAD~N, HEAD^, short and full ids, branches, lightweight and annotated tags; unknown ones in one line', async (t) => {
  const gitdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-revision-'));
  t.teardown(() => fs.rmSync(gitdir, { recursive: true, force: true }));
  const repository = await MirrorRepository.open(gitdir);
  const commits: string[] = [];
  for (const value of ['one', 'two', 'three', 'four']) commits.push((await repository.commit([{ path: `p/${value}.yaml`, content: `${value}\n` }], `add ${value}`))!.oid);
  const [first, second, third, fourth] = commits as [string, string, string, string];
  const git = (...args: string[]) => execFileSync('git', ['--git-dir', gitdir, ...args], { env: { ...process.env, GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  git('tag', 'light', second);
  git('tag', '-a', '-m', 'annotated', 'v1', third);
  git('branch', 'old', first);

  const cases: [string, string][] = [
    ['HEAD', fourth], ['@', fourth], ['main', fourth], ['HEAD~1', third], ['HEAD^', third], ['HEAD^^', second], ['HEAD~3', first],
    ['main~2', second], [fourth, fourth], [fourth.slice(0, 7), fourth], [third.slice(0, 7).toUpperCase(), third], [`${fourth.slice(0, 8)}~1`, third],
    ['light', second], ['v1', third], ['v1~1', second], ['refs/tags/v1', third], ['old', first], ['HEAD~0', fourth],
  ];
  for (const [revision, expected] of cases) t.is(await repository.resolve(revision), expected, revision);

  for (const revision of ['nope', 'HEAD~4', 'HEAD^2', 'deadbeef', '0'.repeat(40), 'HEAD ~1', '~1', 'v2']) {
    const error = await t.throwsAsync(repository.resolve(revision), undefined, revision);
    t.true(error?.message.startsWith(`unknown revision "${revision}" in ${gitdir}`), error?.message);
    t.false(error?.message.includes('\n'), 'one line');
  }
  const tree = git('rev-parse', `${fourth}^{tree}`).toString().trim();
  await t.throwsAsync(repository.resolve(tree), { message: `${tree.slice(0, 12)} in ${gitdir} is a tree, not a commit` });
});

test('resolve in an empty mirror: HEAD is an unknown revision', async (t) => {
  const gitdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-revision-'));
  t.teardown(() => fs.rmSync(gitdir, { recursive: true, force: true }));
  const repository = await MirrorRepository.open(gitdir);
  await t.throwsAsync(repository.resolve('HEAD'), { message: `unknown revision "HEAD" in ${gitdir}` });
});
