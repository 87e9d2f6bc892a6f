// A ManagedCluster through a `secretRef`: `lifeboat operator` as a child process with a ServiceAccount token (as in
// operator.test.ts) reads the source's kubeconfig from a Secret of its namespace. A Secret rotated to a wrong token
// takes the plan out of Ready (the 401 shows), rotated back it replicates again; a missing Secret blocks its plan
// alone (ClusterNotReadable, naming it). A ServiceAccount's token Secret replaced and the old one deleted (revoked):
// replication continues with the new token. Nothing of a kubeconfig reaches the log or the status.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { KubeClient, KubeError, loadKubeConfig } from '../../src/kube/client.ts';
import { configMap, createNamespace, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster, readyOf } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';
const run = promisify(execFile);

test('a secretRef cluster: its kubeconfig comes from the Secret, a rotation is followed (a wrong token shows, a good one replicates again), a missing Secret is named', async (t) => {
  const { info, ns, source, destination, kubectlApply, startOperator, resourceOf, kubectlWait: waitReady } = await operatorCluster(t);

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

  const operator = await startOperator([plan, orphan]);
  const logTail = () => operator.logTail();
  const exited = operator.exited;
  const ready = readyOf;
  const kubectlWait = (name: string) => waitReady(name, operator);

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

  // 5. Rotation as a source admin does it: a ServiceAccount's token Secret replaced by a new one, the old one deleted
  // (its token revoked): the kubeconfig Secret follows, replication continues with the new token only.
  const reader = uniqueName('lb-reader');
  await source.request('POST', `/api/v1/namespaces/${first}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: reader } });
  const bindingName = uniqueName('lb-reader');
  await source.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: bindingName },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lifeboat-source-reader' }, subjects: [{ kind: 'ServiceAccount', name: reader, namespace: first }] });
  t.teardown(() => source.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${bindingName}`).catch(() => undefined));
  const tokenSecret = async (name: string) => {
    await source.request('POST', `/api/v1/namespaces/${first}/secrets`, { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name, annotations: { 'kubernetes.io/service-account.name': reader } } });
    const filled = await eventually(`the token of ${name}`, () => get<{ data?: { token?: string } }>(source, `/api/v1/namespaces/${first}/secrets/${name}`), (found) => Boolean(found?.data?.token), 30_000);
    return Buffer.from(filled!.data!.token!, 'base64').toString('utf8');
  };
  const withToken = (token: string) => {
    const config = parse(goodKubeconfig) as { users: { name: string; user: Record<string, unknown> }[] };
    for (const user of config.users) user.user = { token };
    return stringify(config);
  };
  const oldToken = await tokenSecret(`${reader}-old`);
  await destination.request('PUT', `${secretPath}/${secretName}`, secret(withToken(oldToken)));
  await source.request('POST', `/api/v1/namespaces/${first}/configmaps`, configMap('with-old-token', { n: '1' }));
  await eventually('replicated with the old token', () => get(destination, `/api/v1/namespaces/${first}/configmaps/with-old-token`), Boolean, 90_000)
    .catch((error: Error) => { throw new Error(`${error.message}\noperator log:\n${logTail()}`, { cause: error }); });
  const newToken = await tokenSecret(`${reader}-new`);
  await destination.request('PUT', `${secretPath}/${secretName}`, secret(withToken(newToken)));
  await source.request('DELETE', `/api/v1/namespaces/${first}/secrets/${reader}-old`);
  await eventually('the old token revoked', async () => {
    const client = await KubeClient.create(loadKubeConfig({ data: withToken(oldToken) }), { maxSockets: 1 });
    try {
      return await client.request('GET', '/version').then(() => 200, (error: Error) => (error instanceof KubeError ? error.code : 0));
    } finally {
      client.close();
    }
  }, (code) => code === 401, 30_000);
  await source.request('POST', `/api/v1/namespaces/${first}/configmaps`, configMap('with-new-token', { n: '2' }));
  await eventually('replicated with the new token, the old one revoked', () => get(destination, `/api/v1/namespaces/${first}/configmaps/with-new-token`), Boolean, 90_000)
    .catch((error: Error) => { throw new Error(`${error.message}\noperator log:\n${logTail()}`, { cause: error }); });
  await kubectlWait(plan);

  // Nothing of either kubeconfig in the log or in any status.
  const statuses = JSON.stringify([await resourceOf(plan), await resourceOf(orphan)]);
  const goodKey = (parse(goodKubeconfig) as { users: { user: Record<string, string> }[] }).users[0]!.user;
  for (const secretPart of [wrongToken, oldToken, newToken, ...Object.values(goodKey)]) {
    t.false(operator.output().includes(secretPart), 'no credential in the log');
    t.false(statuses.includes(secretPart), 'no credential in the status');
  }
  t.false(operator.output().includes('certificate-authority-data') || operator.output().includes('client-key-data'), 'no kubeconfig content in the log');

  operator.kill('SIGTERM');
  t.is(await exited, 0, `a graceful stop exits 0\n${logTail()}`);
});
