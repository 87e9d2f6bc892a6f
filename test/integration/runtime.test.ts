// The runtime driven without a plans source (as the operator drives it from custom resources): a plan is run,
// run again with a new spec (its runner replaced), removed (the stand-by keeps its objects) and run once more.
import test from 'ava';
import { readPlans } from '../../src/cli/context.ts';
import { readIdentities } from '../../src/runtime/plans.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { waitFor } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get, pipeline, writePlan } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/sandbox.ts';
import { silentLogger } from '../../src/util/log.ts';

type ConfigMap = { data?: Record<string, string>; metadata: { labels?: Record<string, string> } };

test('a runtime without a plans source runs the plans it is given; a new spec replaces the runner; a removed plan leaves the stand-by as it is', async (t) => {
  const ns = uniqueName('driven');
  const spec = (label: string) => ({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' }, transforms: [{ labels: { set: { edition: label } } }] });
  const handle = await pipeline(spec('first'));
  t.teardown(() => handle.close());
  const { source, destination, plan } = handle;
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { colour: 'blue' }));
  const runtime = new Runtime({ mirror: handle.mirror, bus: handle.bus, state: handle.state, metrics: handle.metrics, log: silentLogger, identities: readIdentities([demoIdentityFile]) });
  t.teardown(() => runtime.stop());
  await runtime.start();
  t.false(runtime.ready(), 'nothing runs yet: started is not synced');

  const contexts = async () => (await readPlans(handle.plansDir)).get(plan)!;
  await runtime.runPlan(await contexts());
  await waitFor('the initial sync', () => runtime.ready(), 120_000, 100);
  const cmPath = `/api/v1/namespaces/${ns}/configmaps/settings`;
  t.is((await get<ConfigMap>(destination, cmPath))?.metadata.labels?.edition, 'first');

  // A new spec: the runner is replaced and the stand-by follows the new transform.
  writePlan(handle.plansDir, plan, spec('second'));
  await runtime.runPlan(await contexts());
  await eventually('the new spec applied', () => get<ConfigMap>(destination, cmPath), (object) => object?.metadata.labels?.edition === 'second', 60_000);

  // Removed: replication stops; what the stand-by has stays.
  await runtime.removePlan(plan);
  t.is(runtime.runners.size, 0);
  await source.request('PATCH', cmPath, { data: { colour: 'green' } }, { contentType: 'application/merge-patch+json' });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const kept = await get<ConfigMap>(destination, cmPath);
  t.is(kept?.data?.colour, 'blue', 'not replicated after the plan was removed');

  // Run again: it catches up from its checkpoints.
  await runtime.runPlan(await contexts());
  await eventually('replicating again', () => get<ConfigMap>(destination, cmPath), (object) => object?.data?.colour === 'green', 60_000);
});
