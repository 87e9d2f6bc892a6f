// The ManagedCluster preflight, as a user sees it: `lifeboat operator` as a child process (test/helpers/operator.ts)
// checks each source's own identity (a ServiceAccount token of the source, in a secretRef Secret) with
// SelfSubjectAccessReview. A reader without Secrets → Ready=False naming `cannot list secrets`; the admin →
// SourceWritable=True; a read-only reader of everything → Ready=True, no SourceWritable; `kubectl get` shows READY.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { configMap, createNamespace, demoRecipient, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';
const run = promisify(execFile);

interface ClusterResource {
  status?: { reachable?: boolean; serverVersion?: string; message?: string; conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] };
}

const conditionOf = (resource: ClusterResource | undefined, type: string) => resource?.status?.conditions?.find((condition) => condition.type === type);

test('each ManagedCluster gets a permission preflight with its own credentials: a missing permission named, a writable source warned of, a read-only one Verified', async (t) => {
  const { info, ns, source, destination, kubectl, kubectlApply, startOperator } = await operatorCluster(t);
  const id = uniqueName('pf').slice(3);

  // In the source: a namespace per plan, and the identities, each a ServiceAccount with a ClusterRole binding.
  const [shopA, shopB, shopC, identities] = ['pfa', 'pfb', 'pfc', 'pfids'].map((prefix) => `${prefix}-${id}`) as [string, string, string, string];
  for (const namespace of [shopA, shopB, shopC, identities]) await createNamespace(source, namespace);
  for (const namespace of [shopA, shopB, shopC]) await source.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, configMap('hello', { from: namespace }));
  const noSecretsRole = `lifeboat-test-no-secrets-${id}`;
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  // RBAC has no "everything but": every core resource the pipeline reads named, Secrets left out; other groups whole.
  await source.request('POST', `${rbac}/clusterroles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: noSecretsRole },
    rules: [
      { apiGroups: [''], resources: ['configmaps', 'serviceaccounts', 'services', 'persistentvolumeclaims', 'namespaces', 'limitranges', 'resourcequotas', 'replicationcontrollers'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps', 'batch', 'rbac.authorization.k8s.io', 'networking.k8s.io', 'autoscaling', 'policy'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
    ],
  });
  const bindings: string[] = [];
  const identity = async (name: string, role: string) => {
    await source.request('POST', `/api/v1/namespaces/${identities}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
    const binding = `lifeboat-test-${name}-${id}`;
    bindings.push(binding);
    await source.request('POST', `${rbac}/clusterrolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: binding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name, namespace: identities }],
    });
    const token = await source.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${identities}/serviceaccounts/${name}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    return token.status.token;
  };
  t.teardown(async () => {
    for (const binding of bindings) await source.request('DELETE', `${rbac}/clusterrolebindings/${binding}`).catch(() => undefined);
    await source.request('DELETE', `${rbac}/clusterroles/${noSecretsRole}`).catch(() => undefined);
    for (const namespace of [shopA, shopB, shopC, identities]) await source.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  });

  // Kubeconfigs of the source: the sandbox's, flattened, with the user replaced (a ServiceAccount token), or the admin's.
  const flattened = async (context: string) => (await run('kubectl', ['--kubeconfig', info.kubeconfig, 'config', 'view', '--raw', '--minify', '--flatten', '--context', context], { encoding: 'utf8' })).stdout;
  const withToken = async (token: string) => {
    const config = parse(await flattened('source-reader')) as { users: { user: Record<string, unknown> }[] };
    for (const user of config.users) user.user = { token };
    return stringify(config);
  };
  const kubeconfigs = {
    nosecrets: await withToken(await identity('no-secrets', noSecretsRole)),
    reader: await withToken(await identity('reader', 'lifeboat-source-reader')),
    admin: await flattened('source'),
  };
  // Through the API, not kubectl apply: its last-applied annotation would copy the kubeconfig into metadata.
  for (const [name, kubeconfig] of Object.entries(kubeconfigs)) {
    await destination.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `source-${name}`, namespace: ns }, data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') } });
  }

  const clusterName = (name: string) => `src-${name}`;
  const clusters = [
    ...Object.keys(kubeconfigs).map((name) => ({ name: clusterName(name), spec: { secretRef: { name: `source-${name}` } } })),
    { name: 'destination', spec: { kubeconfig: { path: info.kubeconfig, context: 'destination-writer' } } },
  ].map(({ name, spec }) => stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec }));
  // Plans that take every kind of their namespace, Secrets (encrypted) included.
  const plans = [['nosecrets', shopA], ['admin', shopB], ['reader', shopC]].map(([cluster, namespace]) => ({ name: uniqueName(`pf${cluster!.slice(0, 3)}`), cluster: cluster!, namespace: namespace! }));
  const planYaml = plans.map(({ name, cluster, namespace }) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name, namespace: ns },
    spec: { source: { cluster: clusterName(cluster) }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [namespace] }] }, secrets: { mode: 'encrypt', recipients: [demoRecipient] }, sync: { commitInterval: '100ms' } },
  }));
  await kubectlApply([...clusters, ...planYaml].join('---\n'));

  const operator = await startOperator(plans.map((plan) => plan.name));
  const withLog = (error: Error) => {
    throw new Error(`${error.message}\noperator log:\n${operator.logTail()}`, { cause: error });
  };
  const clusterOf = (name: string) => get<ClusterResource>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/managedclusters/${clusterName(name)}`);

  // 1. No Secrets for the source identity: Ready=False, each missing permission named (kubectl wait, as a user would).
  await kubectl('wait', '-n', ns, '--for=condition=Ready=false', '--timeout=90s', `managedcluster/${clusterName('nosecrets')}`).catch(withLog);
  const denied = await clusterOf('nosecrets');
  t.like(conditionOf(denied, 'Ready'), { status: 'False', reason: 'PermissionDenied' });
  t.regex(conditionOf(denied, 'Ready')!.message, new RegExp(`cannot list secrets in namespace ${shopA}`));
  t.notRegex(conditionOf(denied, 'Ready')!.message, /configmaps/, 'only what is missing is named');
  t.like(denied!.status, { reachable: true });
  t.regex(denied!.status!.serverVersion ?? '', /^v1\./);
  t.is(conditionOf(denied, 'SourceWritable'), undefined, 'a reader cannot write');

  // 2. The admin: every read allowed, and a warning that it could write.
  const admin = await eventually('SourceWritable on the admin source', () => clusterOf('admin'), (found) => conditionOf(found, 'SourceWritable')?.status === 'True', 90_000).catch(withLog);
  t.like(conditionOf(admin, 'SourceWritable'), { reason: 'WritePermitted' });
  t.regex(conditionOf(admin, 'SourceWritable')!.message, /^can (create|update|patch|delete) \S+ in namespace .*least privilege is a read-only identity on the source$/);
  t.like(conditionOf(admin, 'Ready'), { status: 'True', reason: 'Verified' });

  // 3. A read-only reader of everything: Verified, saying what was checked, and no SourceWritable.
  await kubectl('wait', '-n', ns, '--for=condition=Ready', '--timeout=90s', `managedcluster/${clusterName('reader')}`).catch(withLog);
  const reader = await clusterOf('reader');
  t.regex(conditionOf(reader, 'Ready')!.message, /^reachable \(Kubernetes v1\.\S+\); source of 1 plan: \d+ permissions checked, all allowed$/);
  t.is(conditionOf(reader, 'SourceWritable'), undefined);

  // What `kubectl get managedclusters` shows: the READY column.
  const table = (await kubectl('get', 'managedclusters', '-n', ns)).stdout.trim().split('\n');
  t.regex(table[0]!, /^NAME\s+READY\s+/);
  const readyColumn = (name: string) => table.find((line) => line.startsWith(`${name} `))?.split(/\s+/)[1];
  t.is(readyColumn(clusterName('nosecrets')), 'False');
  t.is(readyColumn(clusterName('reader')), 'True');
  t.is(readyColumn(clusterName('admin')), 'True');

  // No credential in any status.
  const statuses = JSON.stringify(await Promise.all(Object.keys(kubeconfigs).map(clusterOf)));
  for (const kubeconfig of Object.values(kubeconfigs)) {
    for (const user of (parse(kubeconfig) as { users: { user: Record<string, string> }[] }).users) for (const value of Object.values(user.user)) t.false(statuses.includes(value), 'no credential in a status');
  }

  operator.kill('SIGTERM');
  t.is(await operator.exited, 0, `a graceful stop exits 0\n${operator.logTail()}`);
});
