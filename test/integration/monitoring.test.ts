// The alerts of manifests/monitoring, checked and unit-tested by a real promtool (built from the Prometheus module
// by hack/build-bins.sh): the PrometheusRule's spec is a Prometheus rule file; every alert has cases in
// manifests/monitoring/tests/rules.test.yaml, and every alert of the rule file is named there.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { dashboardQueries, prometheusBinary, ruleFile } from '../helpers/prometheus.ts';
import { sandbox } from '../helpers/sandbox.ts';

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
const monitoring = path.join(repoRoot, 'manifests/monitoring');

test('promtool checks the PrometheusRule and passes its unit tests, which cover every alert', async (t) => {
  const promtool = await prometheusBinary('promtool');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rules = ruleFile();
  fs.writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  fs.copyFileSync(path.join(monitoring, 'tests/rules.test.yaml'), path.join(dir, 'rules.test.yaml'));

  const checked = await run(promtool, ['check', 'rules', path.join(dir, 'rules.yaml')], { encoding: 'utf8' });
  const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
  t.regex(checked.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  const tested = await run(promtool, ['test', 'rules', path.join(dir, 'rules.test.yaml')], { encoding: 'utf8' }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`promtool test rules failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  });
  t.regex(tested.stdout, /SUCCESS/);

  const cases = parse(fs.readFileSync(path.join(monitoring, 'tests/rules.test.yaml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const firing = new Set(cases.tests.flatMap((entry) => entry.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)));
  const quiet = new Set(cases.tests.flatMap((entry) => entry.alert_rule_test.filter((check) => check.exp_alerts.length === 0).map((check) => check.alertname)));
  for (const alert of alerts) {
    t.true(firing.has(alert!), `${alert}: a case where it fires`);
    t.true(quiet.has(alert!), `${alert}: a case where it does not`);
  }
  t.is(rules.groups[0]!.rules[2]!.alert, 'LifeboatRPOBudgetExceeded', "the README's budget patch replaces /spec/groups/0/rules/2/expr");
  t.true(['LifeboatPlanNotReady', 'LifeboatRPOBudgetExceeded', 'LifeboatDeletesHeld', 'LifeboatApplyErrors', 'LifeboatDriftDetected', 'LifeboatNoCommitsWhileSourceChanges', 'LifeboatRecoveryFailed'].every((name) => alerts.includes(name)));
});

test('a rule that is wrong fails promtool: the check is real', async (t) => {
  const promtool = await prometheusBinary('promtool');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rules = ruleFile();
  rules.groups[0]!.rules[0]!.expr = 'lifeboat_plan_ready ==';
  fs.writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  const error = await t.throwsAsync(run(promtool, ['check', 'rules', path.join(dir, 'rules.yaml')], { encoding: 'utf8' }));
  t.regex(`${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`, /parse error|FAILED/);
});

test('an overlay with components/monitoring renders the PrometheusRule and the ServiceMonitor, which selects the operator metrics Service', async (t) => {
  const kubectl = path.join((await sandbox()).binDir ?? '', 'kubectl');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-overlay-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const install = path.join(repoRoot, 'manifests/install');
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
    resources: [path.relative(dir, path.join(install, 'two-cluster'))], components: [path.relative(dir, path.join(install, 'components/monitoring'))],
  }));
  const { stdout } = await run(kubectl, ['kustomize', '--load-restrictor=LoadRestrictionsNone', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const objects = parseAllDocuments(stdout).map((document) => document.toJS() as { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: Record<string, unknown> });
  const rule = objects.find((object) => object.kind === 'PrometheusRule');
  const monitor = objects.find((object) => object.kind === 'ServiceMonitor') as { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } } | undefined;
  t.is(rule?.metadata.namespace, 'lifeboat-system');
  t.deepEqual(rule?.spec, ruleFile() as unknown as Record<string, unknown>);
  const service = objects.find((object) => object.kind === 'Service' && Object.entries(monitor!.spec.selector.matchLabels).every(([key, value]) => object.metadata.labels?.[key] === value)) as { spec: { ports: { name: string }[] } } | undefined;
  t.truthy(service, 'the ServiceMonitor selects a Service of the install');
  t.true(service!.spec.ports.some((entry) => entry.name === monitor!.spec.endpoints[0]!.port), 'by its metrics port name');
});

test('the Grafana dashboard selects plans and shows RPO against the budget, objects, applies, errors, held deletes, drift, durations, queues, memory and CPU', (t) => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(monitoring, 'grafana/lifeboat-dashboard.json'), 'utf8')) as { templating: { list: { name: string; query: unknown }[] } };
  const variables = dashboard.templating.list.map((variable) => variable.name);
  t.true(variables.includes('plan') && variables.includes('budget'), `variables: ${variables.join(', ')}`);
  const exprs = dashboardQueries().map((query) => query.expr).join('\n');
  for (const metric of ['lifeboat_plan_lag_seconds', 'vector($budget)', 'lifeboat_objects', 'lifeboat_applies_total', 'lifeboat_apply_errors_total', 'lifeboat_deletes_held', 'lifeboat_drift_objects',
    'lifeboat_mirror_commit_duration_seconds_bucket', 'lifeboat_replication_lag_seconds_bucket', 'lifeboat_queue_depth', 'lifeboat_process_resident_memory_bytes', 'lifeboat_process_cpu_seconds_total']) {
    t.true(exprs.includes(metric), `a panel reads ${metric}`);
  }
  for (const query of dashboardQueries().filter((entry) => entry.expr.startsWith('lifeboat_plan') || entry.expr.includes('(lifeboat_'))) {
    t.true(query.expr.includes('plan=~"$plan"') || query.expr.includes('$job'), `"${query.title}" follows the plan selector: ${query.expr}`);
  }
});
