// Parsing of --plans specifications and the change sets between two sets of plans.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePlanSource } from '../../src/plan/source.ts';
import { diffPlans } from '../../src/plan/watcher.ts';

test('remote URLs with branch and subdirectory', (t) => {
  t.deepEqual(parsePlanSource('https://git.example.com/org/plans.git'), { type: 'remote', url: 'https://git.example.com/org/plans.git', branch: undefined, subdir: '' });
  t.deepEqual(parsePlanSource('https://git.example.com:8443/org/plans.git#main'), { type: 'remote', url: 'https://git.example.com:8443/org/plans.git', branch: 'main', subdir: '' });
  t.deepEqual(parsePlanSource('https://git.example.com/org/plans.git:prod/plans'), { type: 'remote', url: 'https://git.example.com/org/plans.git', branch: undefined, subdir: 'prod/plans' });
  t.deepEqual(parsePlanSource('http://127.0.0.1:8080/plans.git#release:plans/'), { type: 'remote', url: 'http://127.0.0.1:8080/plans.git', branch: 'release', subdir: 'plans' });
});

test('local directories and bare repositories', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-spec-'));
  const bare = path.join(root, 'plans.git');
  fs.mkdirSync(path.join(bare, 'objects'), { recursive: true });
  fs.writeFileSync(path.join(bare, 'HEAD'), 'ref: refs/heads/main\n');
  t.deepEqual(parsePlanSource(root), { type: 'directory', dir: root });
  t.deepEqual(parsePlanSource(`${bare}#main:plans`), { type: 'repository', gitdir: bare, branch: 'main', subdir: 'plans' });
  t.deepEqual(parsePlanSource(`${bare}:plans`), { type: 'repository', gitdir: bare, branch: undefined, subdir: 'plans' });
  t.throws(() => parsePlanSource(`${root}#main`), { message: /need a git repository/ });
  fs.rmSync(root, { recursive: true });
});

test('change sets name added, changed and removed plans', (t) => {
  const before = new Map([['a', { n: 1 }], ['b', { n: 2 }], ['c', { n: 3 }]]);
  const after = new Map([['a', { n: 1 }], ['b', { n: 20 }], ['d', { n: 4 }]]);
  const changes = diffPlans(before, after, 'abc123');
  t.is(changes.revision, 'abc123');
  t.deepEqual(changes.added, [{ n: 4 }]);
  t.deepEqual(changes.changed, [{ n: 20 }]);
  t.deepEqual(changes.removed, ['c']);
});
