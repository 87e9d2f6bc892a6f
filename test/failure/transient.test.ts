// Transient failures never fail an operation, on the real sandbox: a `lifeboat run` started while a cluster's
// address refuses connections keeps trying and replicates within seconds of the cluster answering; a recovery
// runs through a destination API server frozen for 20 s, a destination that refuses connections for 10 s, and a
// custom resource definition whose storage is still initializing.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { Restorer } from '../../src/recovery/restorer.ts';
import { CommandState } from '../../src/state/state.ts';
import { freePort } from '../../src/sandbox/process.ts';
import { silentLogger } from '../../src/util/log.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { component, startLifeboat, type LifeboatProcess } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

const cleanups: (() => unknown)[] = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A TCP proxy to one of the sandbox's API servers, on a port that refuses connections until `listen()`. */
function proxyTo(port: number, target: string): { listen(): Promise<void>; close(): Promise<void> } {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket)).on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () => new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve())),
    close: () => new Promise((resolve) => {
      sockets.forEach((socket) => socket.destroy());
      server.close(() => resolve());
      if (!server.listening) resolve();
    }),
  };
}

/** A copy of the sandbox kubeconfig whose context `name` reaches its cluster through 127.0.0.1:port. */
function proxiedKubeconfig(dir: string, kubeconfig: string, context: string, port: number): { file: string; server: string } {
  const config = parse(fs.readFileSync(kubeconfig, 'utf8')) as { contexts: { name: string; context: { cluster: string } }[]; clusters: { name: string; cluster: { server: string } }[] };
  const clusterName = config.contexts.find((entry) => entry.name === context)!.context.cluster;
  const cluster = config.clusters.find((entry) => entry.name === clusterName)!;
  const server = cluster.cluster.server;
  cluster.cluster.server = `https://127.0.0.1:${port}`;
  const file = path.join(dir, `kubeconfig-${context}`);
  fs.writeFileSync(file, stringify(config));
  return { file, server };
}

/** Points the plan's ManagedCluster `which` at a proxy that is not listening yet. */
async function behindClosedProxy(handle: PipelineHandle, which: 'source' | 'destination') {
  const info = await sandbox();
  const port = await freePort();
  const { file, server } = proxiedKubeconfig(handle.dir, info.kubeconfig, which === 'source' ? 'source-reader' : 'destination-writer', port);
  const clustersFile = path.join(handle.plansDir, 'clusters.yaml');
  const documents = fs.readFileSync(clustersFile, 'utf8').split('---\n').map((text) => parse(text) as { metadata: { name: string }; spec: { kubeconfig: { path: string } } });
  for (const document of documents) if (document.metadata.name === which) document.spec.kubeconfig.path = file;
  fs.writeFileSync(clustersFile, documents.map((document) => stringify(document)).join('---\n'));
  return proxyTo(port, server);
}

for (const which of ['source', 'destination'] as const) {
  test.serial(`lifeboat run started while the ${which} refuses connections: it says so, keeps trying, and replicates within seconds of the cluster answering`, async (t) => {
    t.timeout(4 * 60_000);
    const info = await sandbox();
    const ns = uniqueName(`refused-${which}`);
    const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
    cleanups.push(() => handle.close());
    await createNamespace(handle.source, ns);
    await handle.source.request('POST', cmPath(ns), configMap('before', { n: '1' }));
    const proxy = await behindClosedProxy(handle, which);
    cleanups.push(() => proxy.close());

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
    t.is(await get(handle.destination, cmPath(ns, 'before')), undefined, 'nothing can arrive while the cluster refuses');
    await proxy.listen();
    const answered = Date.now();
    await eventually('the object at the stand-by', () => get(handle.destination, cmPath(ns, 'before')), (cm) => cm !== undefined, 20_000);
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

test.serial('a recovery while the destination refuses connections for 10 s succeeds once it answers', async (t) => {
  t.timeout(4 * 60_000);
  const info = await sandbox();
  const { handle, ns } = await replicated();
  const port = await freePort();
  const { file, server } = proxiedKubeconfig(handle.dir, info.kubeconfig, 'destination-writer', port);
  const proxy = proxyTo(port, server);
  cleanups.push(() => proxy.close());
  const destination = await KubeClient.create(loadKubeConfig({ path: file, context: 'destination-writer' }));
  cleanups.push(() => destination.close());
  const restorer = new Restorer({
    plan: handle.plan, mirrorDir: handle.plan, jobName: `refused-${handle.plan}`, destination, repository: undefined, state: new CommandState(),
    identities: [], concurrency: 8, log: silentLogger, timeoutMs: 120_000,
  });
  const listening = sleep(10_000).then(() => proxy.listen());
  const status = await restorer.run({ dryRun: false });
  await listening;
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
