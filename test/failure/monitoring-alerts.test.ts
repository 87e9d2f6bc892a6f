// A real Prometheus (built from its Go module) scrapes a running `lifeboat run` on the sandbox and evaluates the
// alerts of manifests/monitoring: every expression of the Grafana dashboard returns data; LifeboatRPOBudgetExceeded fires while the destination API server is frozen
// (SIGSTOP) and a change waits, and resolves once it is continued. The budget is the rule's documented parameter;
// here it is patched to 5 s (and `for` to 2 s) as an overlay would, so that the test takes seconds, not minutes.
// It freezes the destination API server: `npm test` runs it alone.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, eventually, pipeline } from '../helpers/pipeline.ts';
import { dashboardQueries, prometheusBinary, ruleFile } from '../helpers/prometheus.ts';
import { component, startLifeboat } from '../helpers/processes.ts';
import { uniqueName } from '../helpers/sandbox.ts';

interface Alert { labels: Record<string, string>; state: string }

test.serial('Prometheus scrapes lifeboat: LifeboatRPOBudgetExceeded fires while the destination is frozen and resolves after it is continued', async (t) => {
  t.timeout(5 * 60_000);
  const ns = uniqueName('alerts');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('a', { n: '1' }));
  const lifeboat = await startLifeboat(handle);
  t.teardown(() => lifeboat.kill('SIGKILL'));
  await lifeboat.ready();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-prometheus-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rules = ruleFile();
  for (const rule of rules.groups.flatMap((group) => group.rules)) {
    if (rule.alert === 'LifeboatRPOBudgetExceeded') {
      t.regex(rule.expr, /> 300$/, 'the budget is the number at the end of the expression, as the README says');
      rule.expr = rule.expr.replace(/> 300$/, '> 5');
      rule.for = '2s';
    }
  }
  fs.writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [path.join(dir, 'rules.yaml')],
    scrape_configs: [{ job_name: 'lifeboat', static_configs: [{ targets: [`127.0.0.1:${lifeboat.port}`] }] }],
  }));
  const port = await freePort();
  const prometheus = spawn(await prometheusBinary('prometheus'), [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  prometheus.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  prometheus.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  t.teardown(() => prometheus.kill('SIGKILL'));
  const api = async <T>(query: string) => ((await (await fetch(`http://127.0.0.1:${port}/api/v1/${query}`)).json()) as { data: T }).data;
  await waitFor('Prometheus ready', () => fetch(`http://127.0.0.1:${port}/-/ready`).then((response) => response.ok, () => false), 60_000, 250)
    .catch((error: Error) => t.fail(`${error.message}\n${log.slice(-2000)}`));
  const plan = handle.plan;
  const rpoAlerts = async () => (await api<{ alerts: Alert[] }>('alerts')).alerts.filter((alert) => alert.labels.alertname === 'LifeboatRPOBudgetExceeded' && alert.labels.plan === plan);
  await eventually('lifeboat scraped, the plan caught up', () => api<{ result: { value: [number, string] }[] }>(`query?query=${encodeURIComponent(`lifeboat_plan_lag_seconds{plan="${plan}"}`)}`),
    (data) => data.result[0]?.value[1] === '0', 30_000);
  t.deepEqual(await rpoAlerts(), [], 'caught up: not firing');

  // Every PromQL expression of the Grafana dashboard returns data from this Prometheus, for this plan.
  await new Promise((resolve) => setTimeout(resolve, 5000)); // a few scrapes: rates need two samples
  for (const { title, expr } of dashboardQueries()) {
    const query = expr.replaceAll('$plan', plan).replaceAll('$job', 'lifeboat').replaceAll('$__rate_interval', '1m').replaceAll('$budget', '300');
    const data = await api<{ result: unknown[] }>(`query?query=${encodeURIComponent(query)}`);
    t.true(data.result.length > 0, `dashboard panel "${title}": ${query} returns data`);
  }

  const { pid } = component('destination-apiserver');
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  const thaw = () => {
    if (!thawed) process.kill(pid, 'SIGCONT');
    thawed = true;
  };
  t.teardown(thaw);
  const frozenAt = Date.now();
  try {
    await handle.source.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/a`, { data: { n: '2' } }, { contentType: 'application/merge-patch+json' });
    await eventually('LifeboatRPOBudgetExceeded firing', rpoAlerts, (alerts) => alerts.some((alert) => alert.state === 'firing'), 60_000);
    t.log(`firing ${((Date.now() - frozenAt) / 1000).toFixed(1)} s after the destination froze`);
  } finally {
    thaw();
  }
  const continuedAt = Date.now();
  await eventually('LifeboatRPOBudgetExceeded resolved', rpoAlerts, (alerts) => alerts.length === 0, 60_000);
  t.log(`resolved ${((Date.now() - continuedAt) / 1000).toFixed(1)} s after the destination was continued`);
  lifeboat.kill('SIGTERM');
  prometheus.kill('SIGTERM');
});
