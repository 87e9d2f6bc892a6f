// The RPO as `lifeboat run` exports it, read from /metrics as Prometheus would scrape it: per plan Ready (as the
// operator's Ready condition says it: behind is still Synced, the lag says by how much), the lag right now (0 when
// caught up, growing while a committed change cannot reach the destination), the objects by kind and when a
// revision was last applied. It freezes the destination API server: `npm test` runs it alone.
import test from 'ava';
import { configMap, createNamespace, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { component, startLifeboat } from '../helpers/processes.ts';
import { uniqueName } from '../helpers/sandbox.ts';

/** One sample of a metric with the plan's label (and `extra` labels), from the text exposition format. */
function sample(text: string, name: string, plan: string, extra = ''): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`) && entry.includes(`plan="${plan}"`) && entry.includes(extra));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test.serial('lifeboat run exports the RPO now: 0 when caught up, growing while the destination is frozen, 0 again after; Ready, objects by kind, last applied', async (t) => {
  t.timeout(4 * 60_000);
  const ns = uniqueName('rpo');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  await createNamespace(handle.source, ns);
  for (const name of ['a', 'b', 'c']) await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(name, { n: '1' }));
  const child = await startLifeboat(handle);
  t.teardown(() => child.kill('SIGKILL'));
  await child.ready();
  const metrics = () => fetch(`http://127.0.0.1:${child.port}/metrics`).then((response) => response.text());
  const plan = handle.plan;

  const caughtUp = await eventually('caught up', metrics, (text) => sample(text, 'lifeboat_plan_ready', plan) === 1 && sample(text, 'lifeboat_plan_lag_seconds', plan) === 0, 30_000);
  t.is(sample(caughtUp, 'lifeboat_objects', plan, 'kind="ConfigMap"'), 3, 'the three ConfigMaps');
  const appliedAt = sample(caughtUp, 'lifeboat_last_applied_timestamp_seconds', plan)!;
  t.true(Math.abs(Date.now() / 1000 - appliedAt) < 60, `last applied ${appliedAt}`);

  // A change that cannot reach the stand-by: the lag is the age of that change, and keeps growing.
  const { pid } = component('destination-apiserver');
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  const thaw = () => {
    if (!thawed) process.kill(pid, 'SIGCONT');
    thawed = true;
  };
  t.teardown(thaw);
  const changed = Date.now();
  let grown: string;
  try {
    await handle.source.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/a`, { data: { n: '2' } }, { contentType: 'application/merge-patch+json' });
    grown = await eventually('the lag growing past 8 s', metrics, (text) => (sample(text, 'lifeboat_plan_lag_seconds', plan) ?? 0) >= 8, 60_000);
  } finally {
    thaw();
  }
  const lag = sample(grown, 'lifeboat_plan_lag_seconds', plan)!;
  const age = (Date.now() - changed) / 1000;
  t.log(`lag ${lag.toFixed(1)} s while the change was ${age.toFixed(1)} s old`);
  t.true(lag <= age + 1, 'never more than the age of the change');

  await eventually('caught up again', metrics, (text) => sample(text, 'lifeboat_plan_lag_seconds', plan) === 0 && sample(text, 'lifeboat_plan_ready', plan) === 1, 60_000);
  t.is((await get<{ data: Record<string, string> }>(handle.destination, `/api/v1/namespaces/${ns}/configmaps/a`))?.data.n, '2');
  child.kill('SIGTERM');
  t.is(await child.exited, 0);
});
