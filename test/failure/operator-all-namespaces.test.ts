// `lifeboat operator --all-namespaces` with the ClusterRole of manifests/rbac/all-namespaces: plans of two teams'
// namespaces run side by side, a plan name taken in another namespace is refused with the reason, and a namespace
// that gets its first plan later is followed.
// A failure test (run alone): an --all-namespaces operator follows every namespace of the shared sandbox, other tests' too.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { configMap, createNamespace, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster, readyOf } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;

test('--all-namespaces runs the plans of every namespace, plan names unique across them', async (t) => {
  const { info, ns, source, destination, kubectl, kubectlApply, startOperator } = await operatorCluster(t);
  // The ClusterRole and its binding, bound to this test's ServiceAccount under a name of its own.
  const binding = uniqueName('lifeboat-all');
  const rbac = ['cluster_role.yaml', 'cluster_role_binding.yaml'].map((file) => parse(fs.readFileSync(path.join(repoRoot, 'manifests/rbac/all-namespaces', file), 'utf8')) as {
    kind: string; metadata: { name: string }; roleRef?: { name: string }; subjects?: { namespace: string }[];
  });
  for (const object of rbac) {
    object.metadata.name = binding;
    if (object.roleRef) object.roleRef.name = binding;
    for (const subject of object.subjects ?? []) subject.namespace = ns;
  }
  await kubectlApply(rbac.map((object) => stringify(object)).join('---\n'));
  t.teardown(async () => {
    await destination.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}`).catch(() => undefined);
    await destination.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${binding}`).catch(() => undefined);
  });

  const [teamA, teamB] = [uniqueName('team-a'), uniqueName('team-b')];
  const [appA, appB] = [uniqueName('appa'), uniqueName('appb')];
  for (const namespace of [teamA, teamB]) await createNamespace(destination, namespace);
  t.teardown(async () => {
    for (const namespace of [teamA, teamB]) await destination.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  });
  for (const app of [appA, appB]) {
    await createNamespace(source, app);
    await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('hello', { app }));
  }
  const clusters = (namespace: string) => [['source', 'source-reader'], ['destination', 'destination-writer']].map(([name, context]) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  }));
  const planYaml = (name: string, namespace: string, app: string) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name, namespace },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' } },
  });
  const [planA, planB] = [uniqueName('plana'), uniqueName('planb')];
  await kubectlApply([...clusters(teamA), planYaml(planA, teamA, appA)].join('---\n'));

  const operator = await startOperator([planA, planB], ['--all-namespaces']);
  const resource = (namespace: string, name: string) => get<Parameters<typeof readyOf>[0]>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${namespace}/recoveryplans/${name}`);
  const waitReady = (namespace: string, name: string) => kubectl('wait', '-n', namespace, '--for=condition=Ready', '--timeout=120s', `recoveryplan/${name}`)
    .catch((error: Error) => t.fail(`${error.message}\n${operator.logTail()}`));
  await waitReady(teamA, planA);
  t.truthy(await get(destination, `/api/v1/namespaces/${appA}/configmaps/hello`));

  // A namespace that gets its first plan later is followed; the same plan name there is refused, naming the owner.
  await kubectlApply([...clusters(teamB), planYaml(planB, teamB, appB), planYaml(planA, teamB, uniqueName('appc'))].join('---\n'));
  await waitReady(teamB, planB);
  t.truthy(await get(destination, `/api/v1/namespaces/${appB}/configmaps/hello`));
  const taken = await eventually('the duplicate name refused', () => resource(teamB, planA), (found) => readyOf(found!)?.reason === 'InvalidSpec', 30_000);
  t.regex(readyOf(taken!)?.message ?? '', new RegExp(`^metadata\\.name: plan name ${planA} is taken by the RecoveryPlan ${teamA}/${planA}`));
  t.like(readyOf((await resource(teamA, planA))!), { status: 'True' }, 'the first owner runs on');
  operator.kill('SIGTERM');
  t.is(await operator.exited, 0, operator.logTail());
});
