// `lifeboat operator --components recovery`, the stand-by's operator of the 3-cluster topology: it runs no pipeline
// (a plan of its namespace is not replicated by it) and needs no NATS (given an address where nothing listens), yet a
// RecoveryExecutionJob wakes what another cluster's operator left asleep at the stand-by.
import test from 'ava';
import { stringify } from 'yaml';
import { freePort } from '../../src/sandbox/process.ts';
import { configMap, createNamespace, deployment, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

test('--components recovery runs RecoveryExecutionJobs only: no replication, no NATS, and the sleeping stand-by wakes', async (t) => {
  const { info, ns, source, destination, kubectl, kubectlApply, startOperator } = await operatorCluster(t);
  const app = uniqueName('rco');
  await createNamespace(source, app);
  await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('not-replicated-here', { by: 'the management cluster' }));
  // What the management cluster's pipeline left at the stand-by: a Deployment asleep, its replicas remembered.
  const plan = uniqueName('rcoplan');
  await createNamespace(destination, app);
  const sleeping = deployment('web', 0);
  Object.assign(sleeping.metadata, { labels: { 'lifeboat.dev/plan': plan }, annotations: { 'lifeboat.dev/deactivated': 'true', 'lifeboat.dev/replicas': '4' } });
  await destination.request('POST', `/apis/apps/v1/namespaces/${app}/deployments`, sleeping);
  t.teardown(() => destination.request('DELETE', `/api/v1/namespaces/${app}`).catch(() => undefined));

  const clusters = [['source', 'source-reader'], ['destination', 'destination-writer']].map(([name, context]) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  }));
  await kubectlApply([...clusters, stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan, namespace: ns },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' } },
  })].join('---\n'));
  const nowhere = `nats://127.0.0.1:${await freePort()}`;
  const operator = await startOperator([plan], ['--components', 'recovery', '--nats', nowhere]);
  await eventually('/readyz 200', () => fetch(`http://127.0.0.1:${operator.port}/readyz`).then((response) => response.status, () => 0), (status) => status === 200, 60_000)
    .catch((error: Error) => t.fail(`${error.message}\n${operator.logTail()}`));
  await new Promise((resolve) => setTimeout(resolve, 3000));
  t.is(await get(destination, `/api/v1/namespaces/${app}/configmaps/not-replicated-here`), undefined, 'no pipeline runs here');

  await kubectlApply(stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob', metadata: { name: 'wake', namespace: ns }, spec: { plan } }));
  await kubectl('wait', '-n', ns, '--for=condition=Succeeded', '--timeout=60s', 'recoveryexecutionjob/wake').catch((error: Error) => t.fail(`${error.message}\n${operator.logTail()}`));
  const awake = await get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`);
  t.is(awake?.spec.replicas, 4, 'the Deployment runs with the replicas the stand-by remembered');
  t.false(/nats/i.test(operator.output().split('\n').filter((line) => /"level":(40|50|60)/.test(line)).join('\n')), 'no complaint about NATS');
  operator.kill('SIGTERM');
  t.is(await operator.exited, 0, operator.logTail());
});
