// `lifeboat operator` as it runs in a pod: a child process against the sandbox's destination cluster with a real
// ServiceAccount token (TokenRequest) bound to manifests/rbac, in-cluster style (LIFEBOAT_SERVICEACCOUNT_DIR and
// KUBERNETES_SERVICE_HOST/PORT). ManagedClusters point at the sandbox kubeconfig's least-privilege contexts; plans
// are applied, edited and deleted with kubectl, and waited for with `kubectl wait`.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { Bus } from '../../src/bus/bus.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { freePort, waitFor } from '../../src/sandbox/process.ts';
import { StateStore } from '../../src/state/state.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get } from '../helpers/pipeline.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;
const cli = path.join(repoRoot, 'bin', 'lifeboat.js');
const run = promisify(execFile);

interface PlanResource {
  metadata: { generation: number };
  status?: { observedGeneration?: number; objects?: number; lagSeconds?: number; appliedRevision?: string; mirrorRevision?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

test('the operator runs RecoveryPlan resources: Ready with counts and lag, a spec edit follows, an invalid plan stands alone, a deleted plan stops', async (t) => {
  const info = await sandbox();
  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', info.kubeconfig, '--context', 'destination', ...args], { encoding: 'utf8', timeout: 150_000 });
  const kubectlApply = async (yaml: string) => {
    const child = execFile('kubectl', ['--kubeconfig', info.kubeconfig, '--context', 'destination', 'apply', '-f', '-']);
    child.stdin!.end(yaml);
    await new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply exited ${code}`)))));
  };
  const destination = await kube('destination');
  const source = await kube('source');
  t.teardown(() => {
    destination.close();
    source.close();
  });

  // The CRDs, as `kubectl apply --server-side` installs them.
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager', 'lifeboat-test', ...fs.readdirSync(path.join(repoRoot, 'manifests/crds')).flatMap((file) => ['-f', path.join(repoRoot, 'manifests/crds', file)]));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/recoveryplans.lifeboat.dev', 'crd/managedclusters.lifeboat.dev');

  // The operator's namespace, ServiceAccount, Role and RoleBinding from manifests/rbac, moved to this namespace.
  const ns = uniqueName('op');
  await createNamespace(destination, ns);
  const rbac = ['service_account.yaml', 'role.yaml', 'role_binding.yaml'].map((file) => {
    const object = parse(fs.readFileSync(path.join(repoRoot, 'manifests/rbac', file), 'utf8')) as { metadata: { namespace: string }; subjects?: { namespace: string }[] };
    object.metadata.namespace = ns;
    for (const subject of object.subjects ?? []) subject.namespace = ns;
    return stringify(object);
  });
  await kubectlApply(rbac.join('---\n'));
  const token = await destination.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/lifeboat-operator/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-operator-'));
  const serviceAccountDir = path.join(dir, 'serviceaccount');
  fs.mkdirSync(serviceAccountDir);
  const kubeConfig = loadKubeConfig({ path: info.kubeconfig, context: 'destination' });
  const cluster = kubeConfig.getCurrentCluster()!;
  fs.writeFileSync(path.join(serviceAccountDir, 'token'), token.status.token);
  fs.writeFileSync(path.join(serviceAccountDir, 'ca.crt'), cluster.caData ? Buffer.from(cluster.caData, 'base64') : fs.readFileSync(cluster.caFile!));
  fs.writeFileSync(path.join(serviceAccountDir, 'namespace'), ns);
  const server = new URL(cluster.server);

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

  const port = await freePort();
  const env = {
    ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_SERVICEACCOUNT_DIR: serviceAccountDir,
    KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port,
  };
  const child = spawn(process.execPath, [cli, 'operator', '--mirror', path.join(dir, 'mirror.git'), '--metrics-addr', `127.0.0.1:${port}`, '--identity', demoIdentityFile],
    { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const state = await StateStore.connect(info.redisUrl);
  const bus = await Bus.connect(info.natsUrl);
  t.teardown(async () => {
    child.kill('SIGKILL');
    for (const name of [plan, invalid]) {
      await bus.removePlan(name).catch(() => undefined);
      await state.forget(name).catch(() => undefined);
    }
    await bus.close();
    await state.close();
    await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });
  const logTail = () => output.trim().split('\n').slice(-20).join('\n');
  const resourceOf = async (name: string) => (await get<PlanResource>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryplans/${name}`))!;
  const ready = (resource: PlanResource) => resource.status?.conditions?.find((condition) => condition.type === 'Ready');
  const kubectlWait = (name: string) => kubectl('wait', '-n', ns, '--for=condition=Ready', '--timeout=120s', `recoveryplan/${name}`).catch((error: Error) => {
    throw new Error(`${error.message}\noperator log:\n${logTail()}`, { cause: error });
  });

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
  await waitFor('the plan stopped', () => output.includes('stopping plan; the stand-by keeps its objects'), 30_000, 100);
  await waitFor('its runner gone', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000, 200);
  await source.request('POST', `/api/v1/namespaces/${first}/configmaps`, configMap('after-delete', { late: 'yes' }));
  await new Promise((resolve) => setTimeout(resolve, 5000));
  t.is(await get(destination, `/api/v1/namespaces/${first}/configmaps/after-delete`), undefined, 'nothing is replicated after the delete');
  t.truthy(await get(destination, `/api/v1/namespaces/${first}/configmaps/hello`), 'the stand-by keeps its objects');
  t.truthy(await get(destination, `/api/v1/namespaces/${added}/configmaps/hello`));

  child.kill('SIGTERM');
  t.is(await exited, 0, `a graceful stop exits 0\n${logTail()}`);
  t.regex(output, new RegExp(`"namespace":"${ns}"`), 'it found its namespace in the service-account directory');
});
