// `lifeboat operator` as it runs in a pod: a child process against the sandbox's destination cluster with a real
// ServiceAccount token (TokenRequest) bound to manifests/rbac, in-cluster style (LIFEBOAT_SERVICEACCOUNT_DIR and
// KUBERNETES_SERVICE_HOST/PORT). ManagedClusters point at the sandbox kubeconfig's least-privilege contexts; plans
// are applied, edited and deleted with kubectl, and waited for with `kubectl wait`.
import test from 'ava';
import { stringify } from 'yaml';
import { waitFor } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster, readyOf } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

test('the operator runs RecoveryPlan resources: Ready with counts and lag, a spec edit follows, an invalid plan stands alone, a deleted plan stops', async (t) => {
  const { info, ns, source, destination, kubectl, kubectlApply, startOperator, resourceOf, kubectlWait: waitReady } = await operatorCluster(t);

  // Source namespaces: the plan's first, the one a spec edit adds, and the invalid plan's.
  const [first, added, other] = [uniqueName('opa'), uniqueName('opb'), uniqueName('opc')];
  for (const namespace of [first, added, other]) {
    await createNamespace(source, namespace);
    await source.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, configMap('hello', { from: namespace }));
  }
  const [plan, invalid] = [uniqueName('opplan'), uniqueName('opbad')];
  const clusters = [['source', 'source-reader'], ['destination', 'destination-writer']].map(([name, context]) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  }));
  const planYaml = (name: string, namespaces: string[], extra: Record<string, unknown> = {}) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name, namespace: ns },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' }, ...extra },
  });
  await kubectlApply([...clusters, planYaml(plan, [first])].join('---\n'));

  const operator = await startOperator([plan, invalid]);
  const logTail = () => operator.logTail();
  const exited = operator.exited;
  const ready = readyOf;
  const kubectlWait = (name: string) => waitReady(name, operator);

  // 1. The plan runs: objects at the stand-by, Ready=True through kubectl wait, figures in status and in kubectl get.
  await kubectlWait(plan);
  t.truthy(await get(destination, `/api/v1/namespaces/${first}/configmaps/hello`), 'the source namespace reached the stand-by');
  let resource = await eventually('status with lag', () => resourceOf(plan), (found) => found.status?.lagSeconds !== undefined && found.status.objects !== undefined, 30_000);
  t.is(resource.status?.observedGeneration, resource.metadata.generation);
  t.like(ready(resource), { status: 'True', reason: 'Synced' });
  t.true((resource.status?.objects ?? 0) >= 2, 'the namespace and its ConfigMap at least');
  t.regex(resource.status?.appliedRevision ?? '', /^[0-9a-f]{40}$/);
  t.is(resource.status?.conditions?.some((condition) => condition.type === 'Reconciling' || condition.type === 'Stalled'), false, 'Reconciling and Stalled only while True');
  const table = (await kubectl('get', 'recoveryplans', '-n', ns)).stdout;
  t.regex(table, /^NAME\s+READY\s+LAG\s+OBJECTS\s+HELD\s+AGE\n/);
  t.regex(table, new RegExp(`^${plan}\\s+True\\s+[0-9.]+\\s+\\d+\\s+0\\s+`, 'm'));

  // 2. An invalid plan beside it: Ready=False, InvalidSpec naming the field; the valid plan is unaffected.
  await kubectlApply(planYaml(invalid, [other], { transforms: [{ labels: { set: { edition: 'dr' } } }, { jsonPatch: [{ op: 'replace', path: 'spec/replicas', value: 1 }] }] }));
  const bad = await eventually('InvalidSpec', () => resourceOf(invalid), (found) => ready(found)?.reason === 'InvalidSpec', 30_000);
  t.like(ready(bad), { status: 'False', message: 'spec.transforms[1].jsonPatch[0].path: invalid JSON pointer "spec/replicas": must start with "/" (e.g. /spec/replicas)' });
  t.like(bad.status?.conditions?.find((condition) => condition.type === 'Stalled'), { status: 'True', reason: 'InvalidSpec' });
  t.is(await get(destination, `/api/v1/namespaces/${other}/configmaps/hello`), undefined, 'an invalid plan replicates nothing');
  t.like(ready(await resourceOf(plan)), { status: 'True' });

  // 3. A spec edit (a namespace added): it arrives, observedGeneration follows, Ready again.
  await kubectlApply(planYaml(plan, [first, added]));
  await eventually('the added namespace at the stand-by', () => get(destination, `/api/v1/namespaces/${added}/configmaps/hello`), Boolean, 90_000);
  resource = await eventually('observedGeneration 2', () => resourceOf(plan), (found) => found.metadata.generation === 2 && found.status?.observedGeneration === 2, 30_000);
  await kubectlWait(plan);
  t.is(resource.status?.observedGeneration, 2);

  // Events: the initial sync and the invalid spec, on their plans.
  const events = JSON.parse((await kubectl('get', 'events', '-n', ns, '-o', 'json')).stdout) as { items: { involvedObject: { name: string }; reason: string; type: string }[] };
  t.true(events.items.some((event) => event.involvedObject.name === plan && event.reason === 'InitialSyncDone' && event.type === 'Normal'));
  t.true(events.items.some((event) => event.involvedObject.name === invalid && event.reason === 'InvalidSpec' && event.type === 'Warning'));

  // 4. The plan deleted: its pipeline stops, the stand-by keeps what it has.
  await kubectl('delete', '-n', ns, `recoveryplan/${plan}`);
  await waitFor('the plan stopped', () => operator.output().includes('stopping plan; the stand-by keeps its objects'), 30_000, 100);
  await waitFor('its runner gone', async () => (await fetch(`http://127.0.0.1:${operator.port}/readyz`)).status === 200, 30_000, 200);
  await source.request('POST', `/api/v1/namespaces/${first}/configmaps`, configMap('after-delete', { late: 'yes' }));
  await new Promise((resolve) => setTimeout(resolve, 5000));
  t.is(await get(destination, `/api/v1/namespaces/${first}/configmaps/after-delete`), undefined, 'nothing is replicated after the delete');
  t.truthy(await get(destination, `/api/v1/namespaces/${first}/configmaps/hello`), 'the stand-by keeps its objects');
  t.truthy(await get(destination, `/api/v1/namespaces/${added}/configmaps/hello`));

  operator.kill('SIGTERM');
  t.is(await exited, 0, `a graceful stop exits 0\n${logTail()}`);
  t.regex(operator.output(), new RegExp(`"namespace":"${ns}"`), 'it found its namespace in the service-account directory');
});
