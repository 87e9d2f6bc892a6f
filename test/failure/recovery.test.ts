// Recovery with the source control plane gone (its API server frozen): `lifeboat recover` needs only the plans, the
// destination and the mirror. A dry run changes nothing; a point-in-time recovery undoes a corrupted ConfigMap and a
// deleted Deployment that had replicated, then wakes every workload exactly as it was in production.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { configMap, createNamespace, demoIdentityFile, deployment, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { component } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
type Obj = { metadata: { annotations?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string>; status?: Record<string, unknown> };

test('recover --to the revision before the damage, with the source control plane stopped', async (t) => {
  t.timeout(5 * 60_000);
  const info = await sandbox();
  const ns = uniqueName('shop');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  const { source, destination, plan } = handle;
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', 3));
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('api', 2));
  await source.request('POST', `/apis/batch/v1/namespaces/${ns}/cronjobs`, {
    apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' },
    spec: { schedule: '0 3 * * *', suspend: false, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'busybox' }] } } } } },
  });
  await source.request('POST', `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`, {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 5 },
  });
  await handle.start();
  const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
  await eventually('the stand-by asleep', () => get<Obj>(destination, deploymentPath('api')), (d) => d?.spec?.replicas === 0);
  await eventually('the HPA at the stand-by', () => get<Obj>(destination, `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/web`), (h) => h !== undefined);
  const before = (await handle.mirror.head())!;

  // The damage, replicated faithfully.
  await source.request('PUT', `/api/v1/namespaces/${ns}/configmaps/settings`, { ...(await get<Obj>(source, `/api/v1/namespaces/${ns}/configmaps/settings`)), data: { mode: 'corrupt' } });
  await source.request('DELETE', deploymentPath('api'));
  await eventually('the corruption at the stand-by', () => get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), (cm) => cm?.data?.mode === 'corrupt');
  await eventually('the delete at the stand-by', () => get(destination, deploymentPath('api')), (d) => d === undefined);
  await handle.stop();

  // Production is gone.
  const sourceApi = component('source-apiserver');
  process.kill(sourceApi.pid, 'SIGSTOP');
  t.teardown(() => process.kill(sourceApi.pid, 'SIGCONT'));
  const env = { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl };
  const args = ['recover', plan, '--plans', handle.plansDir, '--mirror', handle.mirror.gitdir, '--identity', demoIdentityFile, '--to', before.slice(0, 12)];

  const dry = await promisify(execFile)(process.execPath, [cli, ...args, '--dry-run', '--name', `dry-${plan}`], { env });
  t.regex(dry.stdout, /Succeeded/);
  t.regex(dry.stdout, /dry run: 2 restored, 3 activated, 0 failed \(nothing changed\)/);
  t.is((await get<Obj>(destination, deploymentPath('web')))?.spec?.replicas, 0, 'a dry run changes nothing');
  t.is(await handle.state.getValue(plan, 'failover'), undefined);

  const run = await promisify(execFile)(process.execPath, [cli, ...args, '--name', `recover-${plan}`, '-o', 'json'], { env });
  const status = JSON.parse(run.stdout) as { phase: string; revision: string; recoverySeconds: number; counts: Record<string, { restored?: number; activated?: number; failed?: number }>; failures: unknown[] };
  t.is(status.phase, 'Succeeded');
  t.is(status.revision, before);
  t.deepEqual(status.failures, []);
  t.true(status.recoverySeconds > 0);
  t.deepEqual(status.counts, {
    ConfigMap: { restored: 1 },
    'apps/Deployment': { restored: 1, activated: 2 },
    'batch/CronJob': { activated: 1 },
    'autoscaling/HorizontalPodAutoscaler': { activated: 1 },
  });

  t.deepEqual((await get<Obj>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`))?.data, { mode: 'good' }, 'the corruption is undone');
  t.is((await get<Obj>(destination, deploymentPath('web')))?.spec?.replicas, 3);
  t.is((await get<Obj>(destination, deploymentPath('api')))?.spec?.replicas, 2, 'the deleted Deployment is back, awake');
  t.is((await get<Obj>(destination, `/apis/batch/v1/namespaces/${ns}/cronjobs/nightly`))?.spec?.suspend, false);
  t.is((await get<Obj>(destination, `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/web`))?.spec?.minReplicas, 2);
  t.is(await handle.state.getValue(plan, 'failover'), `recover-${plan}`, 'the plan is failed over: no synchronizer writes there any more');
  const job = await get<Obj>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/lifeboat-system/recoveryexecutionjobs/recover-${plan}`);
  t.is(job?.status?.phase, 'Succeeded');
  t.is(job?.status?.revision, before);
  t.truthy(job?.status?.completionTime);
});
