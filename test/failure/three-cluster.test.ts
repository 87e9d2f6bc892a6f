// The 3-cluster topology end to end, on three real control planes (`sandbox up --management`): the management
// cluster's operator replicates source → stand-by, pushes the mirror to a git server and copies the plan into the
// stand-by's namespace; the stand-by's operator runs with `--components recovery`, its own Redis database and no
// NATS. With the management and source API servers frozen (SIGSTOP), a RecoveryExecutionJob created with kubectl at
// the stand-by recovers alone, to the revision it names. When they are continued, the management operator sees the
// failover and no longer writes to the stand-by. It freezes the source API server: `npm test` runs it alone.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Bus } from '../../src/bus/bus.ts';
import { freePort } from '../../src/sandbox/process.ts';
import { StateStore } from '../../src/state/state.ts';
import { startGitServer } from '../helpers/git-server.ts';
import { installCrds, type PlanResource } from '../helpers/operator.ts';
import { createNamespace, demoIdentityFile, deployment, eventually, get } from '../helpers/pipeline.ts';
import { component } from '../helpers/processes.ts';
import { kube, managementSandbox, uniqueName } from '../helpers/sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;
const cli = path.join(repoRoot, 'bin', 'lifeboat.js');
const run = promisify(execFile);
const api = 'lifeboat.dev/v1alpha1';

interface Child { port: number; output: () => string; exited: Promise<number | null>; kill: (signal: NodeJS.Signals) => void }

function operator(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Child> {
  return freePort().then((port) => {
    const child = spawn(process.execPath, [cli, 'operator', '--metrics-addr', `127.0.0.1:${port}`, '--identity', demoIdentityFile, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { port, output: () => output, exited, kill: (signal: NodeJS.Signals) => void child.kill(signal) };
  });
}

const tail = (child: Child, lines = 25) => child.output().trim().split('\n').slice(-lines).join('\n');

test.serial('3 clusters: with the management and source API servers frozen, a RecoveryExecutionJob at the stand-by recovers alone, to the revision it names', async (t) => {
  t.timeout(8 * 60_000);
  const info = await managementSandbox();
  const kubectl = (context: string, ...args: string[]) => run(path.join(info.binDir!, 'kubectl'), ['--kubeconfig', info.kubeconfig, '--context', context, ...args], { encoding: 'utf8', timeout: 150_000 });
  const kubectlApply = async (context: string, yaml: string) => {
    const child = execFile(path.join(info.binDir!, 'kubectl'), ['--kubeconfig', info.kubeconfig, '--context', context, 'apply', '-f', '-']);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin!.end(yaml);
    await new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply exited ${code}: ${stderr}`)))));
  };
  const [source, destination, management] = await Promise.all([kube('source'), kube('destination'), kube('management')]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-3c-'));
  const cleanups: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
    for (const client of [source, destination, management]) client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await Promise.all([installCrds(info, 'management'), installCrds(info, 'destination')]);

  // The git server both operators use: the mirror's remote, outside either cluster.
  fs.mkdirSync(path.join(dir, 'git'));
  await run('git', ['init', '-q', '--bare', '-b', 'main', path.join(dir, 'git', 'mirror.git')]);
  const git = await startGitServer(path.join(dir, 'git'));
  cleanups.push(() => git.close());
  const remote = `${git.url}/mirror.git`;

  const app = uniqueName('tc-app');
  const mgmtNs = uniqueName('tc-mgmt');
  const standbyNs = uniqueName('tc-standby');
  const plan = uniqueName('tcplan');
  await createNamespace(source, app);
  await createNamespace(management, mgmtNs);
  await createNamespace(destination, standbyNs);
  cleanups.push(
    () => source.request('DELETE', `/api/v1/namespaces/${app}`),
    () => destination.request('DELETE', `/api/v1/namespaces/${app}`),
    () => destination.request('DELETE', `/api/v1/namespaces/${standbyNs}`),
    () => management.request('DELETE', `/api/v1/namespaces/${mgmtNs}`),
  );
  await source.request('POST', `/apis/apps/v1/namespaces/${app}/deployments`, deployment('web', 2));

  // The management cluster's resources: its two clusters (least-privilege identities) and the plan.
  const cluster = (name: string, context: string) => stringify({ apiVersion: api, kind: 'ManagedCluster', metadata: { name, namespace: mgmtNs }, spec: { kubeconfig: { path: info.kubeconfig, context } } });
  await kubectlApply('management', [cluster('prod', 'source-reader'), cluster('standby', 'destination-writer'), stringify({
    apiVersion: api, kind: 'RecoveryPlan', metadata: { name: plan, namespace: mgmtNs },
    spec: { source: { cluster: 'prod' }, destination: { cluster: 'standby' }, resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' }, transforms: [{ deactivate: {} }] },
  })].join('---\n'));

  const standbyRedis = `${info.redisUrl}/1`;
  const nowhere = `nats://127.0.0.1:${await freePort()}`;
  const managed = await operator(['--kubeconfig', info.kubeconfig, '--context', 'management', '--namespace', mgmtNs, '--mirror', path.join(dir, 'management', 'mirror.git'),
    '--mirror-remote', remote, '--standby-namespace', standbyNs], { LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl }, dir);
  const standby = await operator(['--kubeconfig', info.kubeconfig, '--context', 'destination-writer', '--namespace', standbyNs, '--components', 'recovery',
    '--mirror', path.join(dir, 'standby', 'mirror.git'), '--mirror-remote', remote, '--nats', nowhere], { LIFEBOAT_REDIS_URL: standbyRedis }, dir);
  cleanups.push(async () => {
    managed.kill('SIGKILL');
    standby.kill('SIGKILL');
    const bus = await Bus.connect(info.natsUrl);
    await bus.removePlan(plan).catch(() => undefined);
    await bus.close();
    for (const url of [info.redisUrl, standbyRedis]) {
      const state = await StateStore.connect(url);
      await state.forget(plan).catch(() => undefined);
      await state.close();
    }
  });
  const fail = (error: Error) => {
    throw new Error(`${error.message}\n--- management operator ---\n${tail(managed)}\n--- stand-by operator ---\n${tail(standby)}`, { cause: error });
  };

  // Replicated asleep, and the plan copied to the stand-by.
  type Web = { spec: { replicas: number }; metadata: { annotations?: Record<string, string> } };
  const webAt = () => get<Web>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`);
  await eventually('web asleep at the stand-by, remembering 2 replicas', webAt, (web) => web?.spec.replicas === 0 && web.metadata.annotations?.['lifeboat.dev/replicas'] === '2', 120_000).catch(fail);
  const planAt = (client: typeof management, ns: string) => get<PlanResource & { spec: unknown; metadata: { annotations?: Record<string, string> } }>(client, `/apis/${api}/namespaces/${ns}/recoveryplans/${plan}`);
  const copy = await eventually('the plan copied to the stand-by', () => planAt(destination, standbyNs), (found) => found !== undefined, 60_000).catch(fail);
  const original = await planAt(management, mgmtNs);
  t.deepEqual(copy!.spec, original!.spec, 'the copy has the same spec');
  t.is(copy!.metadata.annotations?.['lifeboat.dev/mirror-remote'], remote);
  t.deepEqual((await get<{ spec: unknown }>(destination, `/apis/${api}/namespaces/${standbyNs}/managedclusters/standby`))?.spec, { inCluster: true }, 'the stand-by reaches itself in-cluster');

  // Two revisions: 2 replicas, then 5.
  const applied = async (until: (revision: string) => boolean) => (await eventually('the management plan synced', () => planAt(management, mgmtNs),
    (found) => Boolean(found?.status?.appliedRevision) && found!.status!.appliedRevision === found!.status!.mirrorRevision && until(found!.status!.appliedRevision!), 90_000).catch(fail))!.status!.appliedRevision!;
  const first = await applied(() => true);
  await source.request('PATCH', `/apis/apps/v1/namespaces/${app}/deployments/web`, { spec: { replicas: 5 } }, { contentType: 'application/merge-patch+json' });
  await eventually('the stand-by remembering 5 replicas', webAt, (web) => web?.metadata.annotations?.['lifeboat.dev/replicas'] === '5', 60_000).catch(fail);
  const second = await applied((revision) => revision !== first);
  t.log(`revisions: ${first.slice(0, 12)} (2 replicas), ${second.slice(0, 12)} (5 replicas)`);
  // The stand-by's mirror follows the remote (every 10 s; and before the recovery).
  const bare = await run('git', ['--git-dir', path.join(dir, 'git', 'mirror.git'), 'rev-parse', 'main'], { encoding: 'utf8' });
  t.is(bare.stdout.trim(), second, 'the git server has the latest revision');

  // The bad day: the source and the management cluster are gone (frozen: their connections hang).
  const frozen = [component('source-apiserver').pid, component('management-apiserver').pid];
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  const thaw = () => frozen.forEach((pid) => process.kill(pid, 'SIGCONT'));
  cleanups.push(thaw);
  let recoveredIn: number;
  try {
    const started = Date.now();
    await kubectlApply('destination', stringify({ apiVersion: api, kind: 'RecoveryExecutionJob', metadata: { name: 'wake', namespace: standbyNs }, spec: { plan, to: first } }));
    await kubectl('destination', 'wait', '-n', standbyNs, '--for=condition=Succeeded', '--timeout=120s', 'recoveryexecutionjob/wake').catch(fail);
    recoveredIn = (Date.now() - started) / 1000;
  } finally {
    thaw();
  }
  t.log(`recovered at the stand-by alone in ${recoveredIn.toFixed(1)} s`);
  const woken = await webAt();
  t.is(woken?.spec.replicas, 2, 'awake with the replicas of the revision the job named, not the latest');
  const job = await get<{ status: { phase: string; revision?: string } }>(destination, `/apis/${api}/namespaces/${standbyNs}/recoveryexecutionjobs/wake`);
  t.is(job?.status.phase, 'Succeeded');

  // Continued: the management operator learns of the failover and leaves the recovered stand-by alone.
  const failedOver = await eventually('the management plan failed over', () => planAt(management, mgmtNs),
    (found) => found?.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.reason === 'FailedOver') === true, 60_000).catch(fail);
  t.regex(failedOver!.status!.conditions!.find((condition) => condition.type === 'Ready')!.message, /wake/);
  await source.request('PATCH', `/apis/apps/v1/namespaces/${app}/deployments/web`, { spec: { replicas: 7 } }, { contentType: 'application/merge-patch+json' });
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const after = await webAt();
  t.is(after?.spec.replicas, 2, 'nothing written to the stand-by after its failover');
  t.is(after?.metadata.annotations?.['lifeboat.dev/replicas'], woken?.metadata.annotations?.['lifeboat.dev/replicas']);

  for (const child of [managed, standby]) child.kill('SIGTERM');
  t.deepEqual(await Promise.all([managed.exited, standby.exited]), [0, 0]);
});
