// A ManagedCluster through a `secretRef`: `lifeboat operator` as a child process with a ServiceAccount token (as in
// operator.test.ts) reads the source's kubeconfig from a Secret of its namespace. A Secret rotated to a wrong token
// takes the plan out of Ready (the 401 shows), rotated back it replicates again; a missing Secret blocks its plan
// alone (ClusterNotReadable, naming it). Nothing of a kubeconfig reaches the log or the status.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { Bus } from '../../src/bus/bus.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { freePort } from '../../src/sandbox/process.ts';
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

test('a secretRef cluster: its kubeconfig comes from the Secret, a rotation is followed (a wrong token shows, a good one replicates again), a missing Secret is named', async (t) => {
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

  // The source-reader kubeconfig, flattened (credentials inline), and the same with a token the source rejects.
  const goodKubeconfig = (await run('kubectl', ['--kubeconfig', info.kubeconfig, 'config', 'view', '--raw', '--minify', '--flatten', '--context', 'source-reader'], { encoding: 'utf8' })).stdout;
  const wrongToken = `wrong-${uniqueName('token')}`;
  const badConfig = parse(goodKubeconfig) as { users: { name: string; user: Record<string, unknown> }[] };
  for (const user of badConfig.users) user.user = { token: wrongToken };
  const badKubeconfig = stringify(badConfig);
  const secretName = 'source-kubeconfig';
  const secretPath = `/api/v1/namespaces/${ns}/secrets`;
  // Through the API, not kubectl apply: its last-applied annotation would copy the kubeconfig into metadata.
  const secret = (kubeconfig: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace: ns }, data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') } });
  await destination.request('POST', secretPath, secret(goodKubeconfig));

  const [first, other] = [uniqueName('sra'), uniqueName('srb')];
  for (const namespace of [first, other]) {
    await createNamespace(source, namespace);
    await source.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, configMap('hello', { from: namespace }));
  }
  const [plan, orphan] = [uniqueName('srplan'), uniqueName('srlost')];
  const missingSecret = uniqueName('nosuch');
  const clusters = [
    { name: 'source', spec: { secretRef: { name: secretName } } },
    { name: 'lost', spec: { secretRef: { name: missingSecret } } },
    { name: 'destination', spec: { kubeconfig: { path: info.kubeconfig, context: 'destination-writer' } } },
  ].map(({ name, spec }) => stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec }));
  const planYaml = (name: string, sourceCluster: string, namespaces: string[]) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name, namespace: ns },
    spec: { source: { cluster: sourceCluster }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' } },
  });
  await kubectlApply([...clusters, planYaml(plan, 'source', [first]), planYaml(orphan, 'lost', [other])].join('---\n'));

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
    for (const name of [plan, orphan]) {
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

  // 1. The source through the Secret: objects at the stand-by, Ready=True.
  await kubectlWait(plan);
  t.truthy(await get(destination, `/api/v1/namespaces/${first}/configmaps/hello`), 'the source namespace reached the stand-by');

  // 2. The plan whose Secret does not exist: ClusterNotReadable naming the Secret; it replicates nothing.
  const lost = await eventually('ClusterNotReadable', () => resourceOf(orphan), (found) => ready(found)?.reason === 'ClusterNotReadable', 30_000);
  t.like(ready(lost), { status: 'False' });
  t.regex(ready(lost)!.message, new RegExp(`Secret ${missingSecret} \\(spec\\.secretRef\\.name\\) not found in namespace ${ns}`));
  t.is(await get(destination, `/api/v1/namespaces/${other}/configmaps/hello`), undefined, 'a plan without its kubeconfig replicates nothing');

  // 3. Rotated to a token the source rejects: the plan is restarted with it, and is not Ready, saying why.
  await destination.request('PUT', `${secretPath}/${secretName}`, secret(badKubeconfig));
  const rejected = await eventually('not Ready with the wrong token', () => resourceOf(plan), (found) => ready(found)?.status === 'False', 60_000)
    .catch((error: Error) => { throw new Error(`${error.message}\noperator log:\n${logTail()}`, { cause: error }); });
  t.like(ready(rejected), { reason: 'SourceUnreachable' });
  t.regex(ready(rejected)!.message, /401|Unauthorized/);
  await source.request('POST', `/api/v1/namespaces/${first}/configmaps`, configMap('while-rejected', { late: 'yes' }));

  // 4. Rotated back to good credentials: replication continues, the object created meanwhile arrives.
  await destination.request('PUT', `${secretPath}/${secretName}`, secret(goodKubeconfig));
  await eventually('the new source object at the stand-by', () => get(destination, `/api/v1/namespaces/${first}/configmaps/while-rejected`), Boolean, 90_000)
    .catch((error: Error) => { throw new Error(`${error.message}\noperator log:\n${logTail()}`, { cause: error }); });
  await kubectlWait(plan);

  // Nothing of either kubeconfig in the log or in any status.
  const statuses = JSON.stringify([await resourceOf(plan), await resourceOf(orphan)]);
  const goodKey = (parse(goodKubeconfig) as { users: { user: Record<string, string> }[] }).users[0]!.user;
  for (const secretPart of [wrongToken, ...Object.values(goodKey)]) {
    t.false(output.includes(secretPart), 'no credential in the log');
    t.false(statuses.includes(secretPart), 'no credential in the status');
  }
  t.false(output.includes('certificate-authority-data') || output.includes('client-key-data'), 'no kubeconfig content in the log');

  child.kill('SIGTERM');
  t.is(await exited, 0, `a graceful stop exits 0\n${logTail()}`);
});
