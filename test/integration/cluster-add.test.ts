// `lifeboat cluster add | list | remove` as a person runs them (bin/lifeboat.js, a child process) against the
// sandbox: add applies manifests/source in the source with its admin context and stores a kubeconfig for the new
// token next to an operator (a namespace of the destination); that token reads but cannot write or read Secrets
// (asked with the token itself, not a review); a plan naming the cluster replicates with an operator running; list
// shows it Ready; remove refuses while the plan names it, and with --force deletes everything add made. Also: each
// kustomization of manifests/source and manifests/destination renders with `kubectl kustomize` into exactly the
// objects cluster add applies.
import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { accessKustomizations, accessObjectPath, accessObjects, allAccessObjects, describeObject } from '../../src/cluster/registration.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/ref.ts';
import { configMap, createNamespace, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const root = new URL('../../', import.meta.url).pathname;
const cli = path.join(root, 'bin', 'lifeboat.js');
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `lifeboat ARGS` with the sandbox's kubeconfig as $KUBECONFIG and none of lifeboat's own variables. */
function lifeboat(args: string[], kubeconfig: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LIFEBOAT_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, env: { ...env, KUBECONFIG: kubeconfig }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

/** The HTTP status a request ends in: 200 or the KubeError's code. */
async function statusOf(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 200;
  } catch (error) {
    if (error instanceof KubeError) return error.code;
    throw error;
  }
}

test('cluster add gives the source a read-only identity the operator uses; list shows it Ready; remove undoes it', async (t) => {
  t.timeout(5 * 60_000);
  const { info, ns, source, destination, kubectlApply, startOperator, kubectlWait } = await operatorCluster(t);
  const sourceObjects = allAccessObjects('source');
  // Whatever happens, the source keeps none of the identity's objects.
  t.teardown(async () => {
    for (const object of [...sourceObjects].reverse()) await source.request('DELETE', accessObjectPath(object)).catch(() => undefined);
  });
  const operatorFlags = ['--kube-context-of-operator', 'destination', '--namespace', ns];

  // 1. add, as a source admin runs it.
  const added = await lifeboat(['cluster', 'add', 'prod-src', '--context', 'source', '--role', 'source', ...operatorFlags], info.kubeconfig);
  t.is(added.code, 0, added.stderr);
  t.is(added.stderr, '');
  for (const expected of [
    /^ServiceAccount kube-system\/lifeboat-reader (created|configured|unchanged) \(context source\)$/m,
    /^ClusterRole lifeboat-reader (created|configured|unchanged)/m,
    /^ClusterRoleBinding lifeboat-reader (created|configured|unchanged)/m,
    /^Secret kube-system\/lifeboat-reader-token holds a token/m,
    new RegExp(`^Secret ${ns}/lifeboat-cluster-prod-src created \\(kubeconfig for https://127\\.0\\.0\\.1:\\d+, context destination\\)$`, 'm'),
    new RegExp(`^ManagedCluster ${ns}/prod-src created \\(role source, context destination\\)$`, 'm'),
    new RegExp(`kubectl --context destination wait -n ${ns} --for=condition=Ready managedcluster/prod-src$`, 'm'),
  ]) t.regex(added.stdout, expected);
  t.false(/lifeboat-reader-secrets/.test(added.stdout), 'no Secrets reader without --secrets');

  // 2. The Secret's kubeconfig: its token, used directly, reads and cannot write or read Secrets.
  const secret = await get<{ metadata: { labels: Record<string, string> }; data: Record<string, string> }>(destination, `/api/v1/namespaces/${ns}/secrets/lifeboat-cluster-prod-src`);
  t.truthy(secret, 'the kubeconfig Secret is next to the operator');
  t.is(secret!.metadata.labels['app.kubernetes.io/managed-by'], 'lifeboat-cluster-add');
  const kubeconfig = loadKubeConfig({ data: Buffer.from(secret!.data.kubeconfig!, 'base64').toString('utf8') });
  const token = kubeconfig.getCurrentUser()?.token ?? '';
  t.true(token.length > 20, 'a bearer token');
  t.false(added.stdout.includes(token) || added.stderr.includes(token), 'the token is never printed');
  const app = uniqueName('cadd');
  await createNamespace(source, app);
  await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('hello', { from: 'prod-src' }));
  const reader = await KubeClient.create(kubeconfig);
  t.teardown(() => reader.close());
  const once = { retry: false as const };
  t.is(await statusOf(reader.request('GET', `/api/v1/namespaces/${app}/configmaps`, undefined, once)), 200, 'lists configmaps');
  t.is(await statusOf(reader.request('GET', '/api/v1/configmaps', undefined, once)), 200, 'lists configmaps cluster-wide');
  t.is(await statusOf(reader.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('nope', { a: 'b' }), once)), 403, 'creating a configmap is forbidden');
  t.is(await statusOf(reader.request('GET', `/api/v1/namespaces/${app}/secrets`, undefined, once)), 403, 'listing secrets is forbidden');
  t.is(await statusOf(reader.request('GET', '/api/v1/secrets', undefined, once)), 403, 'listing secrets cluster-wide is forbidden');
  // Every write in the source is refused: the rules the API server grants this identity (SelfSubjectRulesReview, in
  // the app's namespace and so cluster-wide ones too) have no verb but get, list and watch, apart from the reviews
  // every authenticated user may create (system:basic-user).
  const review = await reader.request<{ status: { resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[] }[] } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
    { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: app } }, once);
  const writes = review.status.resourceRules.filter((rule) => rule.verbs.some((verb) => !['get', 'list', 'watch'].includes(verb))
    && !(rule.apiGroups?.every((group) => group === 'authorization.k8s.io' || group === 'authentication.k8s.io') && rule.verbs.every((verb) => verb === 'create')));
  t.deepEqual(writes, [], 'no rule grants a write');
  t.true(review.status.resourceRules.some((rule) => rule.resources?.includes('deployments') && rule.verbs.includes('watch')), 'reads are granted');

  // 3. The ManagedCluster names the Secret.
  const cluster = await get<{ metadata: { labels: Record<string, string> }; spec: { secretRef: { name: string; key: string } } }>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/managedclusters/prod-src`);
  t.deepEqual(cluster?.spec, { secretRef: { name: 'lifeboat-cluster-prod-src', key: 'kubeconfig' } });
  t.is(cluster?.metadata.labels['lifeboat.dev/cluster-role'], 'source');

  // 4. A plan using prod-src replicates, with the operator running; list shows prod-src Ready.
  const plan = uniqueName('caplan');
  await kubectlApply([
    stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name: 'standby', namespace: ns }, spec: { kubeconfig: { path: info.kubeconfig, context: 'destination-writer' } } }),
    stringify({
      apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan, namespace: ns },
      spec: { source: { cluster: 'prod-src' }, destination: { cluster: 'standby' }, resources: { include: [{ namespaces: [app], kinds: ['ConfigMap'] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' } },
    }),
  ].join('---\n'));
  const operator = await startOperator([plan]);
  await kubectlWait(plan, operator);
  await eventually('the ConfigMap at the stand-by', () => get(destination, `/api/v1/namespaces/${app}/configmaps/hello`), Boolean, 60_000);
  t.teardown(() => destination.request('DELETE', `/api/v1/namespaces/${app}`).catch(() => undefined));
  t.teardown(() => source.request('DELETE', `/api/v1/namespaces/${app}`).catch(() => undefined));
  const listed = await eventually('cluster list: prod-src Ready', () => lifeboat(['cluster', 'list', ...operatorFlags], info.kubeconfig),
    (result) => /^prod-src\s+source\s+True\s+Verified\s+reachable/m.test(result.stdout), 90_000)
    .catch((error: Error) => { throw new Error(`${error.message}\noperator log:\n${operator.logTail()}`, { cause: error }); });
  t.regex(listed.stdout, /^NAME\s+ROLE\s+READY\s+REASON\s+MESSAGE$/m);
  t.regex(listed.stdout, /^standby\s+destination\s+/m, 'a cluster without the label: its role from the plan');

  // 5. remove refuses while the plan names prod-src; --force removes the ManagedCluster, the Secret and the source objects.
  const refused = await lifeboat(['cluster', 'remove', 'prod-src', '--context', 'source', ...operatorFlags], info.kubeconfig);
  t.is(refused.code, 1);
  t.regex(refused.stderr, new RegExp(`^lifeboat: ManagedCluster prod-src is still named by RecoveryPlan ${plan} \\(source\\) in namespace ${ns}: .*--force\\n$`));
  t.truthy(await get(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/managedclusters/prod-src`), 'nothing deleted when refused');

  const removed = await lifeboat(['cluster', 'remove', 'prod-src', '--context', 'source', '--force', ...operatorFlags], info.kubeconfig);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, new RegExp(`^ManagedCluster ${ns}/prod-src deleted`, 'm'));
  t.regex(removed.stdout, new RegExp(`^Secret ${ns}/lifeboat-cluster-prod-src deleted$`, 'm'));
  for (const object of sourceObjects) t.regex(removed.stdout, new RegExp(`^${describeObject(object)} \\(context source\\) (deleted|absent)$`, 'm'));
  t.is(await get(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/managedclusters/prod-src`), undefined);
  t.is(await get(destination, `/api/v1/namespaces/${ns}/secrets/lifeboat-cluster-prod-src`), undefined);
  for (const object of sourceObjects) {
    await eventually(`${describeObject(object)} gone from the source`, () => get(source, accessObjectPath(object)), (found) => found === undefined, 30_000);
  }
  // The binding goes first (403), then the token itself, once the API server's token cache sees its Secret gone (401).
  t.is(await eventually('the token revoked', () => statusOf(reader.request('GET', `/api/v1/namespaces/${app}/configmaps`, undefined, once)), (code) => code === 401, 30_000), 401, 'the token is revoked with its Secret');
});

test('cluster add: a usage error or an unreachable operator namespace is one line and an exit code, nothing applied', async (t) => {
  const { info } = await operatorCluster(t);
  const badRole = await lifeboat(['cluster', 'add', 'x', '--context', 'source', '--role', 'reader'], info.kubeconfig);
  t.is(badRole.code, 2);
  t.is(badRole.stderr, 'lifeboat: --role "reader": must be source or destination\n');
  const badName = await lifeboat(['cluster', 'add', 'Prod_Src', '--context', 'source'], info.kubeconfig);
  t.is(badName.code, 2);
  const noNamespace = uniqueName('nons');
  const missing = await lifeboat(['cluster', 'add', 'x', '--context', 'source', '--kube-context-of-operator', 'destination', '--namespace', noNamespace], info.kubeconfig);
  t.is(missing.code, 1);
  t.regex(missing.stderr, new RegExp(`^lifeboat: context destination \\(https://127\\.0\\.0\\.1:\\d+\\) has no namespace ${noNamespace}: create it .*\\n$`));
  t.is(missing.stdout, '', 'nothing applied');
});

test('every kustomization of manifests/source and manifests/destination renders with kubectl kustomize, into what cluster add applies', async (t) => {
  const dirs = [...new Set([...accessKustomizations('source', true), ...accessKustomizations('destination', false)])];
  t.is(dirs.length, 3);
  for (const dir of dirs) {
    const rendered = (await run('kubectl', ['kustomize', dir], { encoding: 'utf8' })).stdout;
    const objects = parseAllDocuments(rendered).map((document) => document.toJS() as KubeObject);
    const names = (list: KubeObject[]) => list.map(describeObject).sort();
    t.deepEqual(names(objects), names(accessObjects(dir)), path.relative(root, dir));
  }
});
