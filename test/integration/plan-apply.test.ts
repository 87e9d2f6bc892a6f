// `lifeboat plan apply` as the plans workflow runs it after a merge, a process against the sandbox's destination
// (the CRDs installed, a namespace per test): created, then unchanged, an edit configured with a new generation, an
// invalid file applying nothing with validate's errors and exit code, --dry-run keeping nothing, --prune removing
// only what plan apply applied, and the plans read from a git repository.
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { KubeClient } from '../../src/kube/client.ts';
import { installCrds } from '../helpers/operator.ts';
import { createNamespace, get } from '../helpers/pipeline.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const api = 'apis/lifeboat.dev/v1alpha1';
const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lifeboat` in `cwd` as a person does, with none of lifeboat's own variables in the environment. */
function lifeboat(args: string[], cwd: string): Promise<Result> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LIFEBOAT_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd, env, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

const plan = (name: string, namespaces: string, extra = '') => `apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPlan
metadata:
  name: ${name}
  labels:
    team: ${name}
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

interface Fixture {
  ns: string;
  dir: string;
  plansDir: string;
  destination: KubeClient;
  /** `plan apply` of `source` (default: plans, in dir) into the test's namespace of the destination. */
  apply: (...args: string[]) => Promise<Result>;
  resource: <T = { metadata: { generation: number; labels?: Record<string, string> }; spec: unknown }>(plural: string, name: string) => Promise<T | undefined>;
  names: (plural: string) => Promise<string[]>;
}

/** The CRDs, a namespace of its own (removed at the end), a directory with clusters.yaml and the plans `files`. */
async function fixture(t: ExecutionContext, files: Record<string, string>): Promise<Fixture> {
  const info = await sandbox();
  await installCrds(info);
  const destination = await kube('destination');
  const ns = uniqueName('plan-apply');
  await createNamespace(destination, ns);
  t.teardown(async () => {
    await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    destination.close();
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-plan-apply-'));
  const plansDir = path.join(dir, 'plans');
  fs.mkdirSync(plansDir);
  fs.writeFileSync(path.join(plansDir, 'clusters.yaml'), ['source', 'destination'].map((name) =>
    `apiVersion: lifeboat.dev/v1alpha1\nkind: ManagedCluster\nmetadata:\n  name: ${name}\nspec:\n  kubeconfig:\n    path: ${info.kubeconfig}\n    context: ${name}\n`).join('---\n'));
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(plansDir, file), text);
  return {
    ns, dir, plansDir, destination,
    apply: (...args) => lifeboat(['plan', 'apply', ...(args[0]?.startsWith('-') || args.length === 0 ? ['plans'] : []), ...args,
      '--kubeconfig', info.kubeconfig, '--context', 'destination', '--namespace', ns], dir),
    resource: (plural, name) => get(destination, `/${api}/namespaces/${ns}/${plural}/${name}`),
    names: async (plural) => ((await destination.request<{ items: { metadata: { name: string } }[] }>('GET', `/${api}/namespaces/${ns}/${plural}`)).items)
      .map((item) => item.metadata.name).sort(),
  };
}

const lines = (...entries: string[]) => entries.map((entry) => `${entry}\n`).join('');

test.serial('a directory of plans: created, then unchanged; an edit configured with a new generation; --dry-run keeps nothing; --prune removes only what it applied', async (t) => {
  const shopNs = uniqueName('shop');
  const webNs = uniqueName('web');
  const f = await fixture(t, { 'shop.yaml': plan('shop', shopNs), 'web.yaml': plan('web', webNs) });

  const first = await f.apply();
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, lines('managedcluster.lifeboat.dev/destination created', 'managedcluster.lifeboat.dev/source created',
    'recoveryplan.lifeboat.dev/shop created', 'recoveryplan.lifeboat.dev/web created'));
  // Existing kubeconfig files: no validate warning; each kubeconfig-path cluster is applied with the operator's caveat.
  t.deepEqual(first.stderr.trim().split('\n').map((line) => /^warning: plans\/clusters\.yaml:\d+:\d+: ManagedCluster (\w+): spec\.kubeconfig\.path is applied as written; the operator reads \S+ on its own machine \(an operator in a pod needs spec\.secretRef\)$/.exec(line)?.[1]),
    ['destination', 'source'], first.stderr);
  const shop = await f.resource('recoveryplans', 'shop');
  t.like(shop?.spec, (parse(plan('shop', shopNs)) as { spec: object }).spec, 'the spec as the file wrote it (the CRD schema fills in the defaults)');
  t.is(shop?.metadata.labels?.team, 'shop');
  t.is(shop?.metadata.labels?.['app.kubernetes.io/managed-by'], 'lifeboat-plan-apply');
  t.deepEqual((await f.resource<{ spec: unknown }>('managedclusters', 'source'))?.spec, { kubeconfig: { path: (await sandbox()).kubeconfig, context: 'source' } });

  const second = await f.apply();
  t.is(second.code, 0, second.stderr);
  t.is(second.stdout, lines('managedcluster.lifeboat.dev/destination unchanged', 'managedcluster.lifeboat.dev/source unchanged',
    'recoveryplan.lifeboat.dev/shop unchanged', 'recoveryplan.lifeboat.dev/web unchanged'));

  const edited = plan('web', `${webNs}, api-${webNs}`);
  fs.writeFileSync(path.join(f.plansDir, 'web.yaml'), edited);
  const third = await f.apply();
  t.is(third.code, 0, third.stderr);
  t.is(third.stdout, lines('managedcluster.lifeboat.dev/destination unchanged', 'managedcluster.lifeboat.dev/source unchanged',
    'recoveryplan.lifeboat.dev/shop unchanged', 'recoveryplan.lifeboat.dev/web configured'));
  const web = await f.resource('recoveryplans', 'web');
  t.is(web?.metadata.generation, 2);
  t.like(web?.spec, (parse(edited) as { spec: object }).spec);

  // A dry run of another edit says what would happen and changes nothing.
  fs.writeFileSync(path.join(f.plansDir, 'web.yaml'), plan('web', webNs, '  suspend: true\n'));
  const dry = await f.apply('--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^recoveryplan\.lifeboat\.dev\/web configured \(server dry run\)$/m);
  t.is((await f.resource('recoveryplans', 'web'))?.metadata.generation, 2);
  t.like((await f.resource('recoveryplans', 'web'))?.spec, (parse(edited) as { spec: object }).spec);
  fs.writeFileSync(path.join(f.plansDir, 'web.yaml'), edited);

  // shop leaves the files; a RecoveryPlan made by hand (no label) is not plan apply's to prune.
  await f.destination.request('POST', `/${api}/namespaces/${f.ns}/recoveryplans`, { ...(parse(plan('manual', uniqueName('manual'))) as object), metadata: { name: 'manual' } });
  fs.rmSync(path.join(f.plansDir, 'shop.yaml'));
  const dryPrune = await f.apply('--prune', '--dry-run');
  t.is(dryPrune.code, 0, dryPrune.stderr);
  t.regex(dryPrune.stdout, /^recoveryplan\.lifeboat\.dev\/shop pruned \(server dry run\)$/m);
  t.deepEqual(await f.names('recoveryplans'), ['manual', 'shop', 'web']);
  const withoutPrune = await f.apply();
  t.notRegex(withoutPrune.stdout, /pruned/);
  t.deepEqual(await f.names('recoveryplans'), ['manual', 'shop', 'web'], 'without --prune nothing is deleted');
  const pruned = await f.apply('--prune');
  t.is(pruned.code, 0, pruned.stderr);
  t.is(pruned.stdout, lines('managedcluster.lifeboat.dev/destination unchanged', 'managedcluster.lifeboat.dev/source unchanged',
    'recoveryplan.lifeboat.dev/web unchanged', 'recoveryplan.lifeboat.dev/shop pruned'));
  t.deepEqual(await f.names('recoveryplans'), ['manual', 'web']);
  t.deepEqual(await f.names('managedclusters'), ['destination', 'source']);
});

test.serial('an invalid file: nothing is applied, the errors as plan validate prints them, its exit code', async (t) => {
  const f = await fixture(t, { 'shop.yaml': plan('shop', uniqueName('shop')), 'web.yaml': plan('web', uniqueName('web'), '  sync:\n    commitInterval: soon\n') });
  const validate = await lifeboat(['plan', 'validate', 'plans'], f.dir);
  t.is(validate.code, 1);
  t.regex(validate.stdout, /^plans\/web\.yaml:\d+:\d+: spec\.sync\.commitInterval: /m);
  const applied = await f.apply();
  t.is(applied.code, validate.code);
  t.is(applied.stdout, validate.stdout);
  t.is(applied.stderr, 'lifeboat: nothing applied: fix the errors in plans first\n');
  t.deepEqual(await f.names('recoveryplans'), []);
  t.deepEqual(await f.names('managedclusters'), [], 'not even the valid clusters and plans');
});

test.serial('a cluster without the CRDs: one line naming how to install them, nothing applied', async (t) => {
  const info = await sandbox();
  const source = await kube('source');
  t.teardown(() => source.close());
  const served = await get(source, `/${api}`);
  if (served) {
    t.log('the source cluster serves lifeboat.dev (another test installed the CRDs there): nothing to check');
    t.pass();
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-plan-apply-'));
  fs.writeFileSync(path.join(dir, 'shop.yaml'), `apiVersion: lifeboat.dev/v1alpha1\nkind: ManagedCluster\nmetadata:\n  name: source\nspec:\n  secretRef:\n    name: source\n`);
  const result = await lifeboat(['plan', 'apply', '.', '--kubeconfig', info.kubeconfig, '--context', 'source'], dir);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, /^lifeboat: context source \(https:\/\/[^)]+\) has no CRD managedclusters\.lifeboat\.dev, recoveryplans\.lifeboat\.dev: install the CRDs first \(kubectl apply --server-side -k manifests\/crds\), then apply again\n$/);
});

test.serial('plans from a git repository: its newest commit of a branch and subdirectory, dry run first', async (t) => {
  const shopNs = uniqueName('shop');
  const f = await fixture(t, {});
  const bare = path.join(f.dir, 'plans.git');
  const work = path.join(f.dir, 'work');
  git(f.dir, 'init', '-q', '--bare', '-b', 'main', bare);
  git(f.dir, 'init', '-q', '-b', 'main', work);
  fs.mkdirSync(path.join(work, 'plans'));
  fs.copyFileSync(path.join(f.plansDir, 'clusters.yaml'), path.join(work, 'plans', 'clusters.yaml'));
  fs.writeFileSync(path.join(work, 'plans', 'shop.yaml'), plan('shop', shopNs));
  fs.writeFileSync(path.join(work, 'README.md'), 'not a plan\n');
  const commit = (message: string) => {
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    git(work, 'push', '-q', bare, 'main');
  };
  commit('the shop plan');
  const source = `${bare}#main:plans`;

  const dry = await f.apply(source, '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.stdout, lines('managedcluster.lifeboat.dev/destination created (server dry run)', 'managedcluster.lifeboat.dev/source created (server dry run)',
    'recoveryplan.lifeboat.dev/shop created (server dry run)'));
  t.deepEqual(await f.names('recoveryplans'), [], 'a dry run creates nothing');

  const applied = await f.apply(source);
  t.is(applied.code, 0, applied.stderr);
  t.is(applied.stdout, lines('managedcluster.lifeboat.dev/destination created', 'managedcluster.lifeboat.dev/source created', 'recoveryplan.lifeboat.dev/shop created'));
  t.like((await f.resource('recoveryplans', 'shop'))?.spec, (parse(plan('shop', shopNs)) as { spec: object }).spec);

  fs.writeFileSync(path.join(work, 'plans', 'shop.yaml'), plan('shop', shopNs, '  suspend: true\n'));
  commit('suspend the shop');
  const next = await f.apply(source);
  t.is(next.code, 0, next.stderr);
  t.regex(next.stdout, /^recoveryplan\.lifeboat\.dev\/shop configured$/m);
  const shop = await f.resource<{ metadata: { generation: number }; spec: { suspend?: boolean } }>('recoveryplans', 'shop');
  t.is(shop?.spec.suspend, true);
  t.is(shop?.metadata.generation, 2);

  // A broken commit is refused with the file named as in the repository.
  fs.writeFileSync(path.join(work, 'plans', 'shop.yaml'), plan('shop', shopNs, '  sync:\n    commitInterval: soon\n'));
  commit('broken');
  const broken = await f.apply(source);
  t.is(broken.code, 1);
  t.regex(broken.stdout, /^plans\/shop\.yaml:\d+:\d+: spec\.sync\.commitInterval: /m);
  t.is((await f.resource<{ spec: { suspend?: boolean } }>('recoveryplans', 'shop'))?.spec.suspend, true, 'the broken commit changed nothing');
});
