// Loading plan sets: the committed plans/ directory is valid, valid plans survive a round trip with their defaults,
// directories are expanded, and `lifeboat plan validate|show` print exactly what a person and CI read.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { hasErrors, kubeconfigContexts, loadPlans, originKey, readPlanFiles, resolveKubeconfigPath, summarize } from '../../src/plan/load.ts';
import type { PlanFile } from '../../src/plan/load.ts';
import { formatPlanError } from '../../src/plan/parse.ts';
import { Kind, withDefaults } from '../../src/plan/schema.ts';
import { clusters, recipient, yaml } from '../fixtures/plans/invalid-cases.ts';

const everyFileExists = { fileExists: () => true };

test('plans/ validates clean: no error, no warning', async (t) => {
  const set = loadPlans(await readPlanFiles(['plans']), everyFileExists);
  t.deepEqual(set.errors.map(formatPlanError), []);
  t.deepEqual([...set.plans.keys()].sort(), ['demo', 'shop']);
  t.deepEqual([...set.clusters.keys()].sort(), ['destination', 'dr-eu', 'prod-eu', 'source']);
  t.is(summarize(set), '2 plans, 4 clusters: valid');
  t.false(hasErrors(set));
});

test('every plan file of plans/ names its JSON Schema for editors', async (t) => {
  for (const file of await readPlanFiles(['plans'])) {
    const depth = file.path.split('/').length - 1;
    const kind = file.text.includes('kind: RecoveryPlan') ? 'recoveryplan' : 'managedcluster';
    t.true(file.text.startsWith(`# yaml-language-server: $schema=${'../'.repeat(depth)}schemas/${kind}.json\n`), file.path);
  }
});

test('the demo plan sends Secrets to the demo identity', async (t) => {
  const set = loadPlans(await readPlanFiles(['plans']));
  const identity = (await import('node:fs')).readFileSync('plans/sandbox/demo-identity.txt', 'utf8');
  const { identityToRecipient } = await import('age-encryption');
  const secret = identity.split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-'))!;
  t.deepEqual(set.plans.get('demo')!.spec.secrets, { mode: 'encrypt', recipients: [await identityToRecipient(secret)] });
  t.is(resolveKubeconfigPath('plans/sandbox/clusters.yaml', set.clusters.get('source')!.spec.kubeconfig!.path), `${process.cwd()}/.lifeboat/sandbox/kubeconfig`);
});

/** Loads, stringifies each object with its defaults, loads that again: the same objects must come back. */
function roundTrip(files: PlanFile[]) {
  const first = loadPlans(files, everyFileExists);
  const objects = [...first.clusters.values(), ...first.plans.values(), ...first.jobs.values()];
  const second = loadPlans([{ path: 'all.yaml', text: objects.map((object) => stringify(object)).join('---\n') }], everyFileExists);
  return { first, second };
}

test('valid plans round-trip: parse → defaults → stringify → parse gives the same', async (t) => {
  for (const files of [await readPlanFiles(['plans']), await readPlanFiles(['test/fixtures/plans/valid'])]) {
    const { first, second } = roundTrip(files);
    t.deepEqual(first.errors, []);
    t.deepEqual(second.errors, []);
    t.deepEqual(second.plans, first.plans);
    t.deepEqual(second.clusters, first.clusters);
    t.deepEqual(second.jobs, first.jobs);
  }
});

test('defaults fill every optional field, in one place', (t) => {
  const plan = withDefaults({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: 'web' },
    spec: { source: { cluster: 'prod' }, destination: { cluster: 'standby' }, resources: { include: [{ namespaces: ['web'] }] }, secrets: { recipients: [recipient] } },
  });
  t.deepEqual(plan.spec, {
    source: { cluster: 'prod' },
    destination: { cluster: 'standby' },
    suspend: false,
    resources: { include: [{ namespaces: ['web'] }], exclude: [] },
    transforms: [],
    deletes: { propagate: true, guard: { maxPercent: 20, minDeletes: 10, window: '1m', namespaces: true } },
    secrets: { mode: 'encrypt', recipients: [recipient] },
    mirror: { path: 'web' },
    sync: { commitInterval: '250ms', maxBatch: 500, concurrency: 8 },
    reconcile: { interval: '5m', drift: 'correct' },
    recovery: { timeout: '15m', activate: { restoreReplicas: true, resumeSuspended: true }, hold: { admissionWebhooks: true, apiServices: true, conversionWebhooks: true }, backendTimeout: '2m' },
  });
  t.deepEqual(withDefaults(plan), plan, 'defaults are idempotent');
});

test('partial sections keep what is given and default the rest', (t) => {
  const set = loadPlans([{ path: 'clusters.yaml', text: clusters }, {
    path: 'plan.yaml',
    text: yaml`
      apiVersion: lifeboat.dev/v1alpha1
      kind: RecoveryPlan
      metadata:
        name: web
      spec:
        source: {cluster: prod}
        destination: {cluster: standby}
        resources: {include: [{}]}
        secrets: {mode: exclude}
        deletes: {guard: {window: 10m}}
        recovery: {activate: {restoreReplicas: false}}
    `,
  }]);
  const plan = set.plans.get('web')!;
  t.deepEqual(plan.spec.deletes, { propagate: true, guard: { maxPercent: 20, minDeletes: 10, window: '10m', namespaces: true } });
  t.deepEqual(plan.spec.recovery, { timeout: '15m', activate: { restoreReplicas: false, resumeSuspended: true }, hold: { admissionWebhooks: true, apiServices: true, conversionWebhooks: true }, backendTimeout: '2m' });
  t.deepEqual(plan.spec.secrets, { mode: 'exclude', recipients: [] });
});

test('origins say where each object is defined', async (t) => {
  const set = loadPlans(await readPlanFiles(['test/fixtures/plans/valid']));
  t.deepEqual(set.origins.get(originKey(Kind.recoveryPlan, 'web')), { file: 'test/fixtures/plans/valid/nested/web.yaml', document: 0, line: 5, column: 9 });
  t.deepEqual(set.origins.get(originKey(Kind.recoveryExecutionJob, 'recover-web')), { file: 'test/fixtures/plans/valid/nested/web.yaml', document: 2, line: 22, column: 9 });
  t.deepEqual(set.origins.get(originKey(Kind.managedCluster, 'standby')), { file: 'test/fixtures/plans/valid/clusters.yaml', document: 1, line: 14, column: 9 });
  t.deepEqual(set.jobs.get('recover-web')!.spec, { plan: 'web', at: '2025-03-01T12:00:00Z', dryRun: false });
});

test('readPlanFiles expands directories recursively to *.yaml and *.yml, in path order', async (t) => {
  const files = await readPlanFiles(['test/fixtures/plans/valid', 'test/fixtures/plans/invalid/web.yaml', 'test/fixtures/plans/valid/clusters.yaml']);
  t.deepEqual(files.map((file) => file.path), [
    'test/fixtures/plans/invalid/web.yaml', 'test/fixtures/plans/valid/clusters.yaml', 'test/fixtures/plans/valid/nested/web.yaml',
  ]);
  await t.throwsAsync(readPlanFiles(['test/fixtures/plans/nowhere']), { message: 'test/fixtures/plans/nowhere: no such file or directory' });
});

test('an oversized file is refused without being read', (t) => {
  const set = loadPlans([{ path: 'huge.yaml', text: '', size: 5 * 1024 * 1024 }]);
  t.deepEqual(set.errors.map(formatPlanError), ['huge.yaml:1:1: file is 5242880 bytes, over the 1 MiB limit for plan files; split it into several files']);
});

test('summaries', (t) => {
  const empty = loadPlans([]);
  t.is(summarize(empty), '0 plans, 0 clusters: valid');
  const one = loadPlans([{ path: 'a.yaml', text: 'kind: [' }, { path: 'b.yaml', text: 'a: 1\na: 2\n' }, { path: 'c.yaml', text: 'x: [' }]);
  t.is(summarize(one), '3 errors in 3 files');
});

// --- The CLI, run as a person runs it

function lifeboat(...args: string[]) {
  const result = spawnSync(process.execPath, ['src/cli/main.ts', ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('plan validate prints file:line:col errors sorted, a summary, and exits 1', (t) => {
  t.deepEqual(lifeboat('plan', 'validate', 'test/fixtures/plans/invalid'), {
    code: 1,
    stdout: [
      'test/fixtures/plans/invalid/clusters.yaml:7:11: warning: spec.kubeconfig.path: kubeconfig file not found at test/fixtures/plans/invalid/does-not-exist (paths are relative to the file that names them)',
      'test/fixtures/plans/invalid/web.yaml:12:22: spec.resources.include[0].namespaces[0]: invalid character "W" in pattern "Web": namespace names have lowercase letters, digits and "-", plus the wildcards *, ? and [...]',
      'test/fixtures/plans/invalid/web.yaml:14:5: spec.secrets.recipients: required when secrets.mode is encrypt: list at least one age public key (age1...), or set mode: exclude',
      '2 errors in 1 file (1 warning)',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('plan validate exits 0 on valid plans', (t) => {
  t.deepEqual(lifeboat('plan', 'validate', 'test/fixtures/plans/valid'), { code: 0, stdout: '1 plan, 2 clusters, 1 job: valid\n', stderr: '' });
});

test('plan validate -o json is for machines', (t) => {
  const result = lifeboat('plan', 'validate', '-o', 'json', 'test/fixtures/plans/invalid');
  t.is(result.code, 1);
  const report = JSON.parse(result.stdout) as { errors: unknown[] };
  t.deepEqual({ ...report, errors: report.errors.length }, {
    valid: false, summary: '2 errors in 1 file (1 warning)', files: 2, plans: 0, clusters: 1, jobs: 0, errorCount: 2, warningCount: 1, errors: 3,
  });
  t.deepEqual(report.errors[2], {
    file: 'test/fixtures/plans/invalid/web.yaml', line: 14, column: 5, path: 'spec.secrets.recipients', severity: 'error',
    message: 'required when secrets.mode is encrypt: list at least one age public key (age1...), or set mode: exclude',
  });
});

test('plan validate refuses a path that does not exist', (t) => {
  t.deepEqual(lifeboat('plan', 'validate', 'test/fixtures/plans/nowhere'), { code: 1, stdout: '', stderr: 'lifeboat: test/fixtures/plans/nowhere: no such file or directory\n' });
});

test('plan show prints the effective plan with every default', (t) => {
  const result = lifeboat('plan', 'show', 'web', '--plans', 'test/fixtures/plans/valid');
  t.is(result.code, 0);
  t.is(result.stdout, yaml`
    apiVersion: lifeboat.dev/v1alpha1
    kind: RecoveryPlan
    metadata:
      name: web
    spec:
      source:
        cluster: prod
      destination:
        cluster: standby
      suspend: false
      resources:
        include:
          - namespaces:
              - web-*
        exclude: []
      transforms: []
      deletes:
        propagate: true
        guard:
          maxPercent: 20
          minDeletes: 10
          window: 1m
          namespaces: true
      secrets:
        mode: exclude
        recipients: []
      mirror:
        path: web
      sync:
        commitInterval: 250ms
        maxBatch: 500
        concurrency: 8
      reconcile:
        interval: 5m
        drift: correct
      recovery:
        timeout: 15m
        activate:
          restoreReplicas: true
          resumeSuspended: true
        hold:
          admissionWebhooks: true
          apiServices: true
          conversionWebhooks: true
        backendTimeout: 2m
  `);
  const json = lifeboat('plan', 'show', 'web', '--plans', 'test/fixtures/plans/valid', '-o', 'json');
  t.deepEqual(JSON.parse(json.stdout), parse(result.stdout));
});

test('plan show names the plans it knows, or the errors in the way', (t) => {
  t.deepEqual(lifeboat('plan', 'show', 'nope', '--plans', 'test/fixtures/plans/valid'), {
    code: 1, stdout: '', stderr: 'lifeboat: no plan "nope" in test/fixtures/plans/valid (known: web)\n',
  });
  const invalid = lifeboat('plan', 'show', 'web', '--plans', 'test/fixtures/plans/invalid');
  t.is(invalid.code, 1);
  t.is(invalid.stderr.split('\n').at(-2), 'lifeboat: plan "web" is not available: 2 errors in 1 file in test/fixtures/plans/invalid; fix them, or check the name');
});

test('mangled plans never throw: every problem comes back as a positioned error', async (t) => {
  const [clusterFile, ...planFiles] = await readPlanFiles(['plans/examples/shop/clusters.yaml', 'plans/examples/shop/shop.yaml', 'plans/sandbox/demo.yaml']);
  const junk = ['1', 'null', '[]', '{}', '"x"', '[1, {a: b}]', '*', '-1', 'true', '{op: add}', '[{}]', '~', '&a x', 'age1xyz', '/x~', 'shop-*'];
  let seed = 42;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let run = 0; run < 500; run++) {
    const lines = planFiles[random(planFiles.length)]!.text.split('\n');
    for (let edit = 0; edit < 1 + random(4); edit++) {
      const index = random(lines.length);
      const line = lines[index]!;
      const colon = line.indexOf(': ');
      if (random(3) === 0) lines.splice(index, 1);
      else if (colon >= 0) lines[index] = line.slice(0, colon + 2) + junk[random(junk.length)];
      else lines[index] = line.replace(/\w+/, junk[random(junk.length)]!);
    }
    const set = loadPlans([clusterFile!, { path: 'mangled.yaml', text: lines.join('\n') }]);
    for (const error of set.errors) {
      if (error.line < 1 || error.column < 1 || /^(Invalid|Too (small|big)|Unrecognized)/.test(error.message)) t.fail(formatPlanError(error));
    }
  }
  t.pass();
});

// --- Kubeconfig files, as `plan validate` checks them

/** A temporary directory with a kubeconfig (contexts a and b, current-context a) and the given files. */
function kubeconfigDirectory(t: { teardown: (fn: () => void) => void }, files: Record<string, string>): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-plan-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const kubeconfig = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'a',
    clusters: [{ name: 'one', cluster: { server: 'https://127.0.0.1:6443' } }],
    users: [{ name: 'admin', user: { token: 'x' } }],
    contexts: [{ name: 'a', context: { cluster: 'one', user: 'admin' } }, { name: 'b', context: { cluster: 'one', user: 'admin' } }],
  };
  fs.writeFileSync(path.join(directory, 'kubeconfig'), stringify(kubeconfig));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(directory, name), text);
  return directory;
}

const cluster = (name: string, kubeconfig: string) => yaml`
  apiVersion: lifeboat.dev/v1alpha1
  kind: ManagedCluster
  metadata:
    name: ${name}
  spec:
    kubeconfig: ${kubeconfig}
`;

test('a context the kubeconfig lacks is a warning naming the contexts it has, at the context field', async (t) => {
  const directory = kubeconfigDirectory(t, {
    'clusters.yaml': [
      cluster('x', '{path: kubeconfig, context: c}'),
      cluster('y', '{path: kubeconfig, context: b}'),
      cluster('z', '{path: kubeconfig}'),
      cluster('w', '{path: nowhere, context: a}'),
    ].join('---\n'),
  });
  const set = loadPlans(await readPlanFiles([directory]), { checkKubeconfigFiles: true });
  const file = path.join(directory, 'clusters.yaml');
  t.deepEqual(set.errors.map(formatPlanError), [
    `${file}:6:43: warning: spec.kubeconfig.context: ManagedCluster x: kubeconfig ${path.join(directory, 'kubeconfig')} has no context "c" (contexts: a, b)`,
    `${file}:27:22: warning: spec.kubeconfig.path: kubeconfig file not found at ${path.join(directory, 'nowhere')} (paths are relative to the file that names them)`,
  ]);
  t.false(hasErrors(set));
  t.deepEqual([...set.clusters.keys()].sort(), ['w', 'x', 'y', 'z'], 'warnings keep the clusters');
});

const config = { apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'one', cluster: { server: 'https://127.0.0.1:6443' } }], users: [], contexts: [{ name: 'a', context: {} }] };

test('a kubeconfig without a usable current-context is a warning when no context is named; a file that is not a kubeconfig is an error that never quotes it', async (t) => {
  const directory = kubeconfigDirectory(t, {
    'no-current.yaml': stringify(config),
    'stale-current.yaml': stringify({ ...config, 'current-context': 'gone' }),
    'broken.yaml': 'contexts: [a\n',
    'list.yaml': '- a\n',
    'shadow': 'root:$6$secret-hash:19000:0:99999:7:::\n',
    'no-clusters.yaml': stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'a', contexts: [{ name: 'a' }] }),
    'empty.yaml': '',
    'clusters.yaml': [
      cluster('no-current', '{path: no-current.yaml}'),
      cluster('stale-current', '{path: stale-current.yaml}'),
      cluster('broken', '{path: broken.yaml, context: a}'),
      cluster('list', '{path: list.yaml, context: a}'),
      cluster('directory', '{path: ., context: a}'),
      cluster('shadow', '{path: shadow, context: a}'),
      cluster('no-clusters', '{path: no-clusters.yaml}'),
      cluster('empty', '{path: empty.yaml}'),
    ].join('---\n'),
  });
  // Only clusters.yaml is a plan file; the kubeconfigs sit beside it.
  const set = loadPlans(await readPlanFiles([path.join(directory, 'clusters.yaml')]), { checkKubeconfigFiles: true });
  const at = (name: string) => path.join(directory, name);
  t.deepEqual(set.errors.map((error) => `${error.line}:${error.column}: ${error.path}: ${error.message}`), [
    `6:22: spec.kubeconfig.path: ManagedCluster no-current: kubeconfig ${at('no-current.yaml')} has no current-context; set spec.kubeconfig.context (contexts: a)`,
    `13:22: spec.kubeconfig.path: ManagedCluster stale-current: kubeconfig ${at('stale-current.yaml')} has current-context "gone" but no such context; set spec.kubeconfig.context (contexts: a)`,
    `20:22: spec.kubeconfig.path: ManagedCluster broken: kubeconfig ${at('broken.yaml')} cannot be used: not YAML (BAD_INDENT at line 2, column 1)`,
    `27:22: spec.kubeconfig.path: ManagedCluster list: kubeconfig ${at('list.yaml')} cannot be used: not a kubeconfig (a mapping with clusters, users and contexts)`,
    `34:22: spec.kubeconfig.path: ManagedCluster directory: kubeconfig ${directory} cannot be used: it is a directory`,
    `41:22: spec.kubeconfig.path: ManagedCluster shadow: kubeconfig ${at('shadow')} cannot be used: not a kubeconfig: it lists no clusters, users, contexts`,
    `48:22: spec.kubeconfig.path: ManagedCluster no-clusters: kubeconfig ${at('no-clusters.yaml')} cannot be used: not a kubeconfig: it lists no clusters, users`,
    `55:22: spec.kubeconfig.path: ManagedCluster empty: kubeconfig ${at('empty.yaml')} cannot be used: not a kubeconfig: the file is empty`,
  ]);
  t.deepEqual(set.errors.map((error) => error.severity), ['warning', 'warning', 'error', 'error', 'error', 'error', 'error', 'error']);
  t.deepEqual([...set.clusters.keys()].sort(), ['no-current', 'stale-current'], 'a cluster whose kubeconfig is not one is left out');
  t.false(set.errors.some((error) => /secret-hash|contexts: \[a/.test(error.message)), 'the file\'s content is never printed');
});

test('kubeconfig paths: relative to the file that names them, absolute, or ~/; other forms are refused', async (t) => {
  const directory = kubeconfigDirectory(t, {
    'clusters.yaml': [
      cluster('user-home', '{path: ~root/.kube/config}'),
      cluster('url', '{path: "https://example.com/kubeconfig"}'),
      cluster('variable', '{path: "$HOME/.kube/config"}'),
      cluster('long', `{path: "${'$'.repeat(10_000)}"}`),
      cluster('relative', '{path: kubeconfig, context: a}'),
    ].join('---\n'),
  });
  const set = loadPlans(await readPlanFiles([path.join(directory, 'clusters.yaml')]), { checkKubeconfigFiles: true });
  t.deepEqual(set.errors.map((error) => `${error.line}: ${error.path}: ${error.message}`), [
    '6: spec.kubeconfig.path: "~root/.kube/config": only ~/ is expanded (the home directory of the user running lifeboat), not ~user',
    '13: spec.kubeconfig.path: "https://example.com/kubeconfig": a file path, not a URL (a kubeconfig in a Secret: use secretRef)',
    '20: spec.kubeconfig.path: "$HOME/.kube/config": variables are not expanded: write the path relative to this file, absolute, or ~/…',
    `27: spec.kubeconfig.path: "${'$'.repeat(39)}…${'$'.repeat(39)}" (10000 characters): variables are not expanded: write the path relative to this file, absolute, or ~/…`,
  ]);
  t.deepEqual([...set.clusters.keys()], ['relative']);
  t.is(resolveKubeconfigPath(path.join(directory, 'clusters.yaml'), 'kubeconfig'), path.join(directory, 'kubeconfig'));
  t.is(resolveKubeconfigPath('/plans/prod/clusters.yaml', '../kube/prod.yaml'), '/plans/kube/prod.yaml');
  t.is(resolveKubeconfigPath('/plans/clusters.yaml', '~/.kube/config'), path.join(os.homedir(), '.kube/config'));
});

test('kubeconfig contexts are read in file order; an empty file is not a kubeconfig', (t) => {
  t.deepEqual(kubeconfigContexts('clusters: [{name: one}]\nusers: []\ncurrent-context: b\ncontexts: [{name: b}, {name: a}, {name: b}, {context: {}}, x]\n'), { contexts: ['b', 'a'], currentContext: 'b' });
  t.deepEqual(kubeconfigContexts(''), { problem: 'not a kubeconfig: the file is empty' });
  t.deepEqual(kubeconfigContexts('{"clusters": [{}], "users": [], "contexts": [{"name": "json"}], "current-context": ""}'), { contexts: ['json'], currentContext: undefined });
});

test('each kubeconfig file is read once, however many clusters name it', (t) => {
  const reads: string[] = [];
  const set = loadPlans([{ path: '/plans/clusters.yaml', text: [cluster('x', '{path: k, context: a}'), cluster('y', '{path: k, context: c}')].join('---\n') }], {
    readFile: (file) => {
      reads.push(file);
      return 'clusters: [{name: one}]\nusers: []\ncontexts: [{name: a}]\n';
    },
  });
  t.deepEqual(reads, ['/plans/k']);
  t.deepEqual(set.errors.map(formatPlanError), ['/plans/clusters.yaml:13:34: warning: spec.kubeconfig.context: ManagedCluster y: kubeconfig /plans/k has no context "c" (contexts: a)']);
});

test('plan validate prints a missing context as a warning and exits 0', (t) => {
  const directory = kubeconfigDirectory(t, { 'clusters.yaml': cluster('x', '{path: kubeconfig, context: prod}') });
  const file = path.join(directory, 'clusters.yaml');
  t.deepEqual(lifeboat('plan', 'validate', directory), {
    code: 0,
    stdout: [
      `${file}:6:43: warning: spec.kubeconfig.context: ManagedCluster x: kubeconfig ${path.join(directory, 'kubeconfig')} has no context "prod" (contexts: a, b)`,
      '0 plans, 1 cluster: valid (1 warning)',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('image prefixes with a trailing "/" load as the same prefixes without it', (t) => {
  const transforms = (from: string, to: string) => loadPlans([{ path: 'clusters.yaml', text: clusters }, {
    path: 'plan.yaml',
    text: yaml`
      apiVersion: lifeboat.dev/v1alpha1
      kind: RecoveryPlan
      metadata:
        name: web
      spec:
        source: {cluster: prod}
        destination: {cluster: standby}
        resources: {include: [{}]}
        secrets: {mode: exclude}
        transforms:
          - images: [{from: ${from}, to: ${to}}]
    `,
  }]);
  const plain = transforms('registry.example.com', 'dr.example.com/mirror');
  t.deepEqual(plain.errors, []);
  for (const [from, to] of [['registry.example.com/', 'dr.example.com/mirror/'], ['registry.example.com/', 'dr.example.com/mirror'], ['registry.example.com', 'dr.example.com/mirror/'], ['"registry.example.com:5000/"', 'dr.example.com/']] as const) {
    const set = transforms(from, to);
    t.deepEqual(set.errors.map(formatPlanError), [], `${from} → ${to}`);
    const expected = from.includes('5000') ? [{ images: [{ from: 'registry.example.com:5000', to: 'dr.example.com' }] }] : plain.plans.get('web')!.spec.transforms;
    t.deepEqual(set.plans.get('web')!.spec.transforms, expected, `${from} → ${to}`);
  }
});
