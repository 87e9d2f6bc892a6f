// `lifeboat operator --plans DIR`: the plans come from files, as `lifeboat run` reads them, and the namespace's
// RecoveryExecutionJobs still recover them (a dry run here: it changes nothing, so the plan keeps replicating).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { configMap, createNamespace, deployment, eventually, get, writePlan } from '../helpers/pipeline.ts';
import { operatorCluster } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

test('with --plans the operator runs the files\' plans and RecoveryExecutionJobs recover them', async (t) => {
  const { info, ns, dir, source, destination, kubectl, kubectlApply, startOperator } = await operatorCluster(t);
  const app = uniqueName('opf');
  await createNamespace(source, app);
  await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('hello', { from: 'files' }));
  await source.request('POST', `/apis/apps/v1/namespaces/${app}/deployments`, deployment('web', 2));
  const plansDir = path.join(dir, 'plans');
  fs.mkdirSync(plansDir);
  const cluster = (name: string, context: string) => stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: info.kubeconfig, context } } });
  fs.writeFileSync(path.join(plansDir, 'clusters.yaml'), `${cluster('source', 'source-reader')}---\n${cluster('destination', 'destination-writer')}`);
  const plan = uniqueName('opfplan');
  writePlan(plansDir, plan, { resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' }, transforms: [{ select: { kinds: ['apps/Deployment'] }, deactivate: {} }] });

  const operator = await startOperator([plan], ['--plans', plansDir, '--plan-poll-interval', '500']);
  await eventually('the ConfigMap at the stand-by', () => get(destination, `/api/v1/namespaces/${app}/configmaps/hello`), Boolean, 90_000)
    .catch((error: Error) => t.fail(`${error.message}\n${operator.logTail()}`));
  await eventually('the Deployment asleep', () => get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`), (found) => found?.spec.replicas === 0, 60_000);
  await eventually('/readyz 200', () => fetch(`http://127.0.0.1:${operator.port}/readyz`).then((response) => response.status), (status) => status === 200, 60_000);

  const job = (name: string, forPlan: string) => stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob', metadata: { name, namespace: ns }, spec: { plan: forPlan, dryRun: true } });
  await kubectlApply(`${job('rehearse', plan)}---\n${job('typo', 'no-such-plan')}`);
  await kubectl('wait', '-n', ns, '--for=condition=Succeeded', '--timeout=60s', 'recoveryexecutionjob/rehearse').catch((error: Error) => t.fail(`${error.message}\n${operator.logTail()}`));
  const rehearsed = await get<{ status: { counts: Record<string, { activated?: number }>; message: string } }>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryexecutionjobs/rehearse`);
  t.like(rehearsed?.status.counts['apps/Deployment'], { activated: 1 }, 'the dry run counts the Deployment it would wake');
  t.regex(rehearsed?.status.message ?? '', /^dry run: .*\(nothing changed\)$/);
  t.is((await get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`))?.spec.replicas, 0, 'a dry run wakes nothing');
  await kubectl('wait', '-n', ns, '--for=condition=Succeeded=False', '--timeout=60s', 'recoveryexecutionjob/typo');
  const typo = await get<{ status: { message: string } }>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryexecutionjobs/typo`);
  t.is(typo?.status.message, `no plan no-such-plan runs from the plans source (${plan})`);
  operator.kill('SIGTERM');
  t.is(await operator.exited, 0, operator.logTail());
});
