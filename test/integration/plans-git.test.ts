// Plans from git, as they are used: a plans repository served over HTTP by `git http-backend`, real pushes of a
// good commit, a broken one and a fix; `plan diff` between revisions; the CRDs and the committed plans stored in
// a real kube-apiserver.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loadPlans, type PlanError } from '../../src/plan/load.ts';
import { createPlanSource, parsePlanSource } from '../../src/plan/source.ts';
import { PlanWatcher, type PlanChangeSet } from '../../src/plan/watcher.ts';
import type { RecoveryPlan } from '../../src/plan/schema.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { startGitServer } from '../helpers/git-server.ts';
import { kube, uniqueName } from '../helpers/sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;
const cli = path.join(repoRoot, 'bin', 'lifeboat.js');
const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const run = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

const clusters = fs.readFileSync(path.join(repoRoot, 'plans/sandbox/clusters.yaml'), 'utf8');
const plan = (name: string, namespaces: string, extra = '') => `apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPlan
metadata:
  name: ${name}
spec:
  source:
    cluster: source
  destination:
    cluster: destination
  resources:
    include:
      - namespaces: [${namespaces}]
  secrets:
    mode: exclude
${extra}`;

/** A work tree whose commits are pushed to a bare repository under `root`. */
function plansRepository(root: string) {
  const bare = path.join(root, 'plans.git');
  const work = path.join(root, 'work');
  run(root, 'init', '-q', '--bare', '-b', 'main', bare);
  run(root, 'init', '-q', '-b', 'main', work);
  fs.mkdirSync(path.join(work, 'plans'));
  return {
    bare, work,
    commit(files: Record<string, string | null>, message: string): string {
      for (const [file, text] of Object.entries(files)) {
        if (text === null) fs.rmSync(path.join(work, 'plans', file));
        else fs.writeFileSync(path.join(work, 'plans', file), text);
      }
      run(work, 'add', '-A');
      run(work, 'commit', '-q', '-m', message);
      return run(work, 'rev-parse', 'HEAD');
    },
  };
}

test('a plans repository over HTTP: a good commit runs, a broken one changes nothing and is reported, the fix runs', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-plans-'));
  const repo = plansRepository(root);
  const server = await startGitServer(root, { token: 'sekret' });
  t.teardown(() => server.close());
  const remote = `${server.url}/plans.git`;
  run(repo.work, 'remote', 'add', 'origin', `http://lifeboat:sekret@${server.url.slice('http://'.length)}/plans.git`);
  // Asynchronous: the git server runs in this process and must keep answering while git pushes.
  const push = () => promisify(execFile)('git', ['push', '-q', 'origin', 'main'], { cwd: repo.work, env: gitEnv });

  const first = repo.commit({ 'clusters.yaml': clusters, 'shop.yaml': plan('shop', 'shop-*'), 'web.yaml': plan('web', 'web-*') }, 'two plans');
  await push();
  const changes: PlanChangeSet<RecoveryPlan>[] = [];
  const invalid: { revision: string; errors: PlanError[] }[] = [];
  const source = createPlanSource(parsePlanSource(`${remote}#main:plans`), { ...process.env, LIFEBOAT_PLANS_TOKEN: 'sekret', LIFEBOAT_CACHE: path.join(root, 'cache') });
  const watcher = new PlanWatcher<RecoveryPlan, PlanError>({
    source, evaluate: (snapshot) => {
      const set = loadPlans(snapshot.files);
      return { plans: set.plans, errors: set.errors.filter((error) => error.severity === 'error') };
    },
    onChange: (change) => void changes.push(change),
    onInvalid: (revision, errors) => void invalid.push({ revision, errors }),
  });
  await watcher.poll();
  t.is(changes.length, 1);
  t.is(changes[0]?.revision, first, 'the change set is tagged with the plans-repo commit');
  t.deepEqual(changes[0]?.added.map((p) => p.metadata.name).sort(), ['shop', 'web']);

  // A broken commit: web's destination is a cluster that does not exist. Nothing that runs changes.
  const broken = repo.commit({ 'web.yaml': plan('web', 'web-*').replace('cluster: destination', 'cluster: dr-west') }, 'typo');
  await push();
  await watcher.poll();
  t.is(changes.length, 1, 'no change set for an invalid revision');
  t.is(invalid[0]?.revision, broken);
  t.deepEqual(invalid[0]?.errors.map((error) => [error.file, error.line, error.message]), [
    ['plans/web.yaml', 9, 'unknown cluster "dr-west" (known: destination, source)'],
  ]);
  t.like(watcher.status(), { appliedRevision: first, latestRevision: broken });
  t.deepEqual([...watcher.plans().keys()].sort(), ['shop', 'web'], 'the running plans are untouched');

  // The fix: web changed (another namespace), shop removed.
  const fixed = repo.commit({ 'web.yaml': plan('web', 'web-*, api-*'), 'shop.yaml': null }, 'fix');
  await push();
  await watcher.poll();
  t.is(changes.length, 2);
  t.like(changes[1], { revision: fixed, removed: ['shop'] });
  t.deepEqual(changes[1]?.changed.map((p) => p.metadata.name), ['web']);
  t.like(watcher.status(), { appliedRevision: fixed, latestRevision: fixed, errors: [] });

  // A wrong token is refused with a clear error and changes nothing.
  const denied = createPlanSource(parsePlanSource(`${remote}#main:plans`), { ...process.env, LIFEBOAT_PLANS_TOKEN: 'wrong', LIFEBOAT_CACHE: path.join(root, 'cache2') });
  await t.throwsAsync(denied.snapshot(), { message: /^cannot fetch plans from http:\/\/127\.0\.0\.1:\d+\/plans\.git: / });
});

test('a local bare plans repository is read without a work tree', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bare-'));
  const repo = plansRepository(root);
  const commit = repo.commit({ 'clusters.yaml': clusters, 'web.yaml': plan('web', 'web-*') }, 'one');
  run(repo.work, 'push', '-q', repo.bare, 'main');
  const snapshot = await createPlanSource(parsePlanSource(`${repo.bare}:plans`)).snapshot();
  t.is(snapshot.revision, commit);
  t.deepEqual(snapshot.files.map((file) => file.path), ['plans/clusters.yaml', 'plans/web.yaml']);
});

test('plan diff says what changes in meaning between two revisions', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-diff-'));
  const repo = plansRepository(root);
  repo.commit({ 'clusters.yaml': clusters, 'web.yaml': plan('web', 'web-*'), 'old.yaml': plan('old', 'old-*') }, 'base');
  run(repo.work, 'tag', 'base');
  repo.commit({
    'web.yaml': plan('web', 'web-*, api-*', `  transforms:\n    - deactivate: {}\n  deletes:\n    propagate: false\n  sync:\n    commitInterval: 5s\n`),
    'old.yaml': null,
  }, 'head');
  const output = execFileSync(process.execPath, [cli, 'plan', 'diff', 'base', 'HEAD', '--repo', repo.work], { encoding: 'utf8' });
  t.is(output, [
    'plan old removed:',
    '  replication from source to destination stops; the stand-by keeps what it has',
    'plan web changed:',
    '  replicates added: every namespaced kind in namespaces web-*, api-*',
    '  replicates removed: every namespaced kind in namespaces web-*',
    '  transform added: deactivate workloads on the stand-by',
    '  deletes in the source are NO LONGER replicated',
    '  spec.sync.commitInterval: 250ms → 5s',
    '',
  ].join('\n'));
  const markdown = execFileSync(process.execPath, [cli, 'plan', 'diff', 'base', 'HEAD', '--repo', repo.work, '-o', 'markdown'], { encoding: 'utf8' });
  t.regex(markdown, /^## Plan changes: `base` → `HEAD`\n\n### Plan `old` removed/);
});

test('the CRDs are accepted by a real kube-apiserver and the committed plans are stored as custom resources', async (t) => {
  const api = await kube('destination');
  t.teardown(() => api.close());
  for (const file of fs.readdirSync(path.join(repoRoot, 'manifests/crds')).filter((name) => name.endsWith('.lifeboat.dev.yaml'))) {
    const crd = parse(fs.readFileSync(path.join(repoRoot, 'manifests/crds', file), 'utf8')) as { metadata: { name: string } };
    await api.request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, crd, { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat-test', force: true } });
    await waitFor(`${crd.metadata.name} established`, async () => {
      const live = await api.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      return live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    }, 30_000, 200);
  }
  await waitFor('the lifeboat.dev API', () => api.request('GET', '/apis/lifeboat.dev/v1alpha1').then(() => true), 30_000, 200);
  const ns = uniqueName('crs');
  await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const plural: Record<string, string> = { ManagedCluster: 'managedclusters', RecoveryPlan: 'recoveryplans' };
  let stored = 0;
  for (const file of ['plans/sandbox/clusters.yaml', 'plans/sandbox/demo.yaml', 'plans/examples/shop/clusters.yaml', 'plans/examples/shop/shop.yaml']) {
    for (const document of parseAllDocuments(fs.readFileSync(path.join(repoRoot, file), 'utf8'))) {
      const object = document.toJS() as { kind: string; metadata: { name: string } };
      await api.request('POST', `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/${plural[object.kind]}`, object, { query: { fieldValidation: 'Strict' } });
      const back = await api.request<{ spec: unknown }>('GET', `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/${plural[object.kind]}/${object.metadata.name}`);
      t.truthy(back.spec);
      stored++;
    }
  }
  t.is(stored, 6);
  // The API server's own validation refuses a plan whose source and destination are the same cluster.
  const bad = parse(stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: 'same' },
    spec: { source: { cluster: 'a' }, destination: { cluster: 'a' }, resources: { include: [{ namespaces: ['x'] }] }, secrets: { mode: 'exclude' } } }));
  const error = await t.throwsAsync(api.request('POST', `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryplans`, bad));
  t.regex(error?.message ?? '', /source and destination must be different clusters/);
});
