// Transient failures never fail an operation, on the real sandbox: a `lifeboat run` started while a cluster's API
// server is stopped (its address refuses connections) keeps trying and replicates within seconds of the API server
// being started again; a recovery runs through a destination API server frozen for 20 s, one stopped for 10 s,
// and a custom resource definition whose storage is still initializing.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Restorer } from '../../src/recovery/restorer.ts';
import { CommandState } from '../../src/state/state.ts';
import { silentLogger } from '../../src/util/log.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { component, startLifeboat, startStopped, stopComponent, type LifeboatProcess } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

// Whatever a test stopped is started again, even when it fails.
const cleanups: (() => unknown)[] = [startStopped];
test.after.always(async () => {
  // Each cleanup on its own: one that fails (a process already gone) must not leave the others undone.
  for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
});

for (const which of ['source', 'destination'] as const) {
  test.serial(`lifeboat run started while the ${which} refuses connections: it says so, keeps trying, and replicates within seconds of the cluster answering`, async (t) => {
    t.timeout(4 * 60_000);
    const info = await sandbox();
    const ns = uniqueName(`refused-${which}`);
    const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
    cleanups.push(() => handle.close());
    await createNamespace(handle.source, ns);
    await handle.source.request('POST', cmPath(ns), configMap('before', { n: '1' }));
    t.teardown(startStopped);
    await stopComponent(which === 'source' ? 'source-apiserver' : 'destination-apiserver');

    const child: LifeboatProcess = await startLifeboat(handle);
    cleanups.push(() => child.kill('SIGKILL'));
    // While the cluster refuses: /readyz and `lifeboat status` name it and say since when.
    const readyz = await eventually('/readyz naming the cluster', () => fetch(`http://127.0.0.1:${child.port}/readyz`).then(async (r) => ({ status: r.status, body: await r.text() }), () => ({ status: 0, body: '' })),
      (answer) => answer.status === 503 && answer.body.includes(`${which} cluster ${which} unreachable since`), 30_000);
    t.regex(readyz.body, new RegExp(`plan ${handle.plan}: ${which} cluster ${which} unreachable since \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z: .*ECONNREFUSED`));
    const env = { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl };
    const status = await eventually('lifeboat status naming the cluster', async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'status', '-o', 'json'], { env });
      return (JSON.parse(stdout) as { plans: { plan: string; unreachable?: { cluster: string; role: string; since: string } }[] }).plans.find((plan) => plan.plan === handle.plan);
    }, (plan) => plan?.unreachable?.cluster === which, 30_000);
    t.is(status?.unreachable?.role, which);

    await sleep(Math.max(0, 30_000 - Date.now() + Date.parse(status!.unreachable!.since)));
    // (With the destination stopped there is nothing to look at; with the source stopped, nothing may have arrived.)
    if (which === 'source') t.is(await get(handle.destination, cmPath(ns, 'before')), undefined, 'nothing can arrive while the source refuses');
    const restarting = Date.now();
    await startStopped();
    const answered = Date.now();
    t.log(`the ${which} API server took ${((answered - restarting) / 1000).toFixed(1)} s to start and be healthy`);
    await eventually('the object at the stand-by', () => get(handle.destination, cmPath(ns, 'before')), (cm) => cm !== undefined, 20_000).catch((error: Error) => {
      throw new Error(`${error.message}; lifeboat's last log lines:\n${child.output().trim().split('\n').slice(-30).join('\n')}`, { cause: error });
    });
    const seconds = (Date.now() - answered) / 1000;
    t.log(`replicated ${seconds.toFixed(1)} s after the ${which} answered`);
    t.true(seconds < 15, `replication started ${seconds} s after the cluster answered`);
    await child.ready(60_000);
    t.is(await fetch(`http://127.0.0.1:${child.port}/readyz`).then((r) => r.status), 200);
    // And it keeps replicating.
    await handle.source.request('POST', cmPath(ns), configMap('after', { n: '2' }));
    await eventually('a later change at the stand-by', () => get(handle.destination, cmPath(ns, 'after')), (cm) => cm !== undefined, 20_000);
    child.kill('SIGTERM');
    await child.exited;
  });
}

/** A plan replicated and asleep at the stand-by, ready to be recovered; its pipeline stopped. */
async function replicated() {
  const ns = uniqueName('transient');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { mode: 'exclude' } });
  cleanups.push(() => handle.close());
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1' }] } } },
  });
  await handle.start();
  await eventually('the stand-by asleep', () => get<{ spec: { replicas: number } }>(handle.destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`), (d) => d?.spec.replicas === 0);
  await handle.stop();
  return { handle, ns };
}

test.serial('a recovery while the destination API server is frozen for 20 s succeeds once it is continued', async (t) => {
  t.timeout(4 * 60_000);
  const info = await sandbox();
  const { handle, ns } = await replicated();
  const { pid } = component('destination-apiserver');
  process.kill(pid, 'SIGSTOP');
  // The recovery's own clock starts once the CLI has loaded, so "it waited" is judged by wall clock: the command
  // can only finish after the API server was continued.
  const continued = sleep(20_000).then(() => { process.kill(pid, 'SIGCONT'); return Date.now(); });
  cleanups.push(() => process.kill(pid, 'SIGCONT'));
  const run = await promisify(execFile)(process.execPath, [cli, 'recover', handle.plan, '--plans', handle.plansDir, '--mirror', handle.mirror.gitdir, '--identity', demoIdentityFile, '--name', `frozen-${handle.plan}`, '-o', 'json'],
    { env: { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl } });
  const finishedAt = Date.now();
  const continuedAt = await continued;
  const status = JSON.parse(run.stdout) as { phase: string; recoverySeconds: number; message: string };
  t.is(status.phase, 'Succeeded', status.message);
  t.true(finishedAt >= continuedAt, `the recovery waited for the API server (finished ${((continuedAt - finishedAt) / 1000).toFixed(1)} s before it was continued)`);
  t.log(`recovered ${((finishedAt - continuedAt) / 1000).toFixed(1)} s after the API server was continued (recoverySeconds ${status.recoverySeconds})`);
  t.is((await get<{ spec: { replicas: number } }>(handle.destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`))?.spec.replicas, 3);
});

test.serial('a recovery while the destination API server is stopped for 10 s (connections refused) succeeds once it is started again', async (t) => {
  t.timeout(4 * 60_000);
  const { handle, ns } = await replicated();
  t.teardown(startStopped);
  await stopComponent('destination-apiserver');
  const restorer = new Restorer({
    plan: handle.plan, mirrorDir: handle.plan, jobName: `refused-${handle.plan}`, destination: handle.destination, repository: undefined, state: new CommandState(),
    identities: [], concurrency: 8, log: silentLogger, timeoutMs: 120_000,
  });
  const started = sleep(10_000).then(() => startStopped());
  const status = await restorer.run({ dryRun: false });
  await started;
  t.is(status.phase, 'Succeeded', status.message);
  t.true((status.recoverySeconds ?? 0) >= 9);
  t.is((await get<{ spec: { replicas: number } }>(handle.destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`))?.spec.replicas, 3);
});


test.serial('a recovery whose custom resource definition became Established in the same second succeeds', async (t) => {
  t.timeout(4 * 60_000);
  const { handle } = await replicated();
  // Five new CRDs, each recovered the moment it is Established: the API server answers 429 "storage is
  // (re)initializing" to lists of a kind whose storage is still being set up.
  for (let round = 0; round < 5; round++) {
    const group = `${uniqueName('g')}.transient.lifeboat.dev`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${group}` },
      spec: { group, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    };
    await handle.destination.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    cleanups.push(() => handle.destination.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`).catch(() => undefined));
    await eventually('Established', () => handle.destination.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${group}`),
      (current) => current.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True') ?? false, 30_000);
    const restorer = new Restorer({
      plan: handle.plan, mirrorDir: handle.plan, jobName: `crd-${round}-${handle.plan}`, destination: handle.destination, repository: undefined, state: new CommandState(),
      identities: [], concurrency: 8, log: silentLogger, timeoutMs: 120_000,
    });
    const status = await restorer.run({ dryRun: true });
    t.is(status.phase, 'Succeeded', `round ${round}: ${status.message}`);
  }
});
