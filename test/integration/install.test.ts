// manifests/install as a platform team applies it: every overlay renders with `kubectl kustomize`, the real API
// server accepts it (server-side apply; the Deployment and StatefulSets as a server-side dry run, without a single
// PodSecurity warning under the namespace's restricted label), and the operator container runs as the rendered
// Deployment says — its image, args, env, user, read-only root — with the token of the installed ServiceAccount
// mounted where a kubelet mounts it: it replicates a plan and reports Ready. The image, the manifests and the RBAC
// work together. Each test installs into a namespace of its own (the rendered objects' namespace rewritten).
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { KubeClient, KubeError, loadKubeConfig } from '../../src/kube/client.ts';
import { podman, runFlags, testImage } from '../helpers/image.ts';
import { mountServiceAccount } from '../helpers/operator.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get } from '../helpers/pipeline.ts';
import type { SandboxInfo } from '../../src/sandbox/sandbox.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
/** Each overlay, and whether it runs pipelines (with NATS) or only recovers (three-cluster/destination). */
const overlays = [['two-cluster', 'pipelines'], ['three-cluster/management', 'pipelines'], ['three-cluster/destination', 'recovery']] as const;

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  subjects?: { namespace?: string }[];
  spec?: Record<string, unknown>;
}

/** The overlay rendered, moved to `ns` (the Namespace object renamed, namespaced objects and subjects moved). */
async function render(kubectl: string, overlay: string, ns: string): Promise<Rendered[]> {
  const { stdout } = await run(kubectl, ['kustomize', path.join(repoRoot, 'manifests/install', overlay)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return parseAllDocuments(stdout).map((document) => document.toJS() as Rendered).map((object) => {
    if (object.kind === 'Namespace') object.metadata.name = ns;
    else if (object.metadata.namespace) object.metadata.namespace = ns;
    for (const subject of object.subjects ?? []) if (subject.namespace) subject.namespace = ns;
    return object;
  });
}

const workloads = new Set(['Deployment', 'StatefulSet']);

/** `kubectl apply --server-side` of the objects (stdin), optionally as a dry run; answers stdout and stderr. */
async function kubectlApply(info: SandboxInfo, objects: Rendered[], dryRun: boolean) {
  const child = spawn(path.join(info.binDir ?? '', 'kubectl'), ['--kubeconfig', info.kubeconfig, '--context', 'destination', 'apply', '--server-side', '--force-conflicts', '--field-manager', 'lifeboat-install-test', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-']);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // One JSON List, as kubectl reads it: YAML from this side could differ (a YAML 1.2 `yes` is a boolean to kubectl's
  // YAML 1.1 parser), and kubectl reads a stream of JSON documents differently from version to version.
  child.stdin.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

for (const [overlay, runs] of overlays) {
  test(`manifests/install/${overlay} renders and the API server accepts it; its workloads pass the restricted Pod Security Standard`, async (t) => {
    const info = await sandbox();
    const kubectl = path.join(info.binDir ?? '', 'kubectl');
    const ns = uniqueName('install');
    const objects = await render(kubectl, overlay, ns);
    const kinds = new Set(objects.map((object) => object.kind));
    for (const kind of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service', 'NetworkPolicy', 'StatefulSet', 'PersistentVolumeClaim']) t.true(kinds.has(kind), `${overlay} has a ${kind}`);
    const operator = objects.find((object) => object.kind === 'Deployment')!.spec as { template: { spec: { containers: { args: string[]; env: { name: string }[] }[] } } };
    const { args, env } = operator.template.spec.containers[0]!;
    t.is(objects.some((object) => object.metadata.name === 'lifeboat-nats'), runs === 'pipelines', `${overlay}: NATS only where pipelines run`);
    t.is(env.some((entry) => entry.name === 'LIFEBOAT_NATS_URL'), runs === 'pipelines');
    t.is(args.includes('--components=recovery'), runs === 'recovery', `${overlay}: ${runs === 'recovery' ? 'recovery only' : 'every component'}`);
    const destination = await kube('destination');
    t.teardown(async () => {
      await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
      destination.close();
    });
    const applied = await kubectlApply(info, objects.filter((object) => !workloads.has(object.kind)), false);
    t.is(applied.code, 0, applied.stderr);
    const dryRun = await kubectlApply(info, objects.filter((object) => workloads.has(object.kind)), true);
    t.is(dryRun.code, 0, dryRun.stderr);
    t.regex(dryRun.stdout, /deployment\.apps\/lifeboat-operator serverside-applied \(server dry run\)/);
    if (runs === 'pipelines') t.regex(dryRun.stdout, /statefulset\.apps\/lifeboat-nats serverside-applied \(server dry run\)/);
    t.regex(dryRun.stdout, /statefulset\.apps\/lifeboat-redis serverside-applied \(server dry run\)/);
    t.notRegex(dryRun.stderr, /PodSecurity|would violate/, 'no workload breaks the restricted Pod Security Standard');
    // Nothing runs as root, nothing escalates, every root filesystem is read-only.
    for (const object of objects.filter((entry) => workloads.has(entry.kind))) {
      const pod = (object.spec as { template: { spec: { securityContext: { runAsNonRoot?: boolean }; containers: { securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean } }[] } } }).template.spec;
      t.true(pod.securityContext.runAsNonRoot, `${object.metadata.name}: runAsNonRoot`);
      for (const container of pod.containers) t.like(container.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }, object.metadata.name);
    }
  });
}

test('the operator container, run as the installed Deployment says with the installed ServiceAccount\'s token, replicates a plan and reports Ready', async (t) => {
  const [{ image }, info] = await Promise.all([testImage(), sandbox()]);
  const kubectl = path.join(info.binDir ?? '', 'kubectl');
  const ns = uniqueName('installed');
  const objects = await render(kubectl, 'two-cluster', ns);
  const destination = await kube('destination');
  const source = await kube('source');
  t.teardown(async () => {
    await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    destination.close();
    source.close();
  });
  const applied = await kubectlApply(info, objects.filter((object) => !workloads.has(object.kind)), false);
  t.is(applied.code, 0, applied.stderr);

  // The Deployment's container, as a kubelet would run it.
  const deployment = objects.find((object) => object.kind === 'Deployment')!;
  const pod = (deployment.spec as { template: { spec: { serviceAccountName: string; securityContext: { runAsUser: number; runAsGroup: number }; containers: {
    image: string; args: string[]; env: { name: string; value?: string }[]; ports: { containerPort: number }[]; volumeMounts: { name: string; mountPath: string }[];
    securityContext: { readOnlyRootFilesystem: boolean };
  }[] } } }).template.spec;
  const container = pod.containers[0]!;
  t.regex(container.image, /^ghcr\.io\/lifeboat-dev\/lifeboat:/, 'the published image name');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-installed-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const serviceAccount = path.join(dir, 'serviceaccount');
  const server = await mountServiceAccount(destination, info, ns, pod.serviceAccountName, serviceAccount);
  // The volumes: the data directory (the mirror's volume) writable by the container's user, the kubeconfig of the
  // ManagedClusters (mode 0644, as a Secret volume mounts it), the demo age identity where the Deployment looks.
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.chownSync(data, pod.securityContext.runAsUser, pod.securityContext.runAsGroup);
  const kubeconfigCopy = path.join(dir, 'kubeconfig');
  fs.copyFileSync(info.kubeconfig, kubeconfigCopy);
  fs.chmodSync(kubeconfigCopy, 0o644);
  const age = path.join(dir, 'age');
  fs.mkdirSync(age);
  fs.copyFileSync(demoIdentityFile, path.join(age, 'identity'));
  fs.chmodSync(path.join(age, 'identity'), 0o644);
  const mountOf = (name: string) => container.volumeMounts.find((mount) => mount.name === name)!.mountPath;
  // The embedded NATS and Redis are replaced by the sandbox's, the documented way to use existing ones: the two URLs.
  const env = container.env.filter((entry) => entry.value !== undefined && !entry.name.endsWith('_URL')).flatMap((entry) => ['--env', `${entry.name}=${entry.value}`]);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const args = container.args.map((arg) => arg.replace(/^--metrics-addr=.*/, `--metrics-addr=127.0.0.1:${port}`));
  const name = `lifeboat-installed-${process.pid}`;
  const started = await podman(['run', '-d', '--name', name, ...runFlags, '--network', 'host', '--read-only', '--read-only-tmpfs=false',
    '--user', `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`, ...env,
    '--env', `LIFEBOAT_NATS_URL=${info.natsUrl}`, '--env', `LIFEBOAT_REDIS_URL=${info.redisUrl}`,
    '--env', `KUBERNETES_SERVICE_HOST=${server.hostname}`, '--env', `KUBERNETES_SERVICE_PORT=${server.port}`,
    '-v', `${serviceAccount}:/var/run/secrets/kubernetes.io/serviceaccount:ro`, '-v', `${data}:${mountOf('data')}`, '-v', `${age}:${mountOf('age')}:ro`,
    '-v', `${kubeconfigCopy}:/etc/lifeboat/kubeconfig:ro`, image, ...args]);
  t.is(started.code, 0, started.stderr);
  t.teardown(() => podman(['rm', '-f', name]).then(() => undefined));
  const logs = async () => (await podman(['logs', '--tail', '30', name])).stdout + (await podman(['logs', '--tail', '30', name])).stderr;

  // A plan, as a platform team declares it: the source read with the sandbox's read-only identity.
  const app = uniqueName('inst');
  await createNamespace(source, app);
  await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('hello', { installed: 'yes' }));
  const plan = uniqueName('instplan');
  const resources = [
    ...[['source', 'source-reader'], ['destination', 'destination-writer']].map(([clusterName, context]) => ({
      apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name: clusterName, namespace: ns }, spec: { kubeconfig: { path: '/etc/lifeboat/kubeconfig', context } },
    })),
    { apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan, namespace: ns },
      spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' } } },
  ] as unknown as Rendered[];
  const declared = await kubectlApply(info, resources, false);
  t.is(declared.code, 0, declared.stderr);
  await run(kubectl, ['--kubeconfig', info.kubeconfig, '--context', 'destination', 'wait', '-n', ns, '--for=condition=Ready', '--timeout=120s', `recoveryplan/${plan}`])
    .catch(async (error: Error) => t.fail(`${error.message}\n${await logs()}`));
  t.truthy(await get(destination, `/api/v1/namespaces/${app}/configmaps/hello`), 'the plan replicated through the installed operator');
  await eventually('/readyz 200', () => fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status, () => 0), (status) => status === 200, 30_000);
  const stopped = await podman(['stop', '--time', '20', name]);
  t.is(stopped.code, 0, stopped.stderr);
  t.is((await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '0', await logs());
});

test('least privilege: the installed operator ServiceAccount can do what the operator needs in its namespace and nothing outside it', async (t) => {
  const info = await sandbox();
  const kubectl = path.join(info.binDir ?? '', 'kubectl');
  const ns = uniqueName('lp');
  const objects = await render(kubectl, 'two-cluster', ns);
  const destination = await kube('destination');
  t.teardown(async () => {
    await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    destination.close();
  });
  const applied = await kubectlApply(info, objects.filter((object) => !workloads.has(object.kind)), false);
  t.is(applied.code, 0, applied.stderr);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-lp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await mountServiceAccount(destination, info, ns, 'lifeboat-operator', dir);
  const token = fs.readFileSync(path.join(dir, 'token'), 'utf8');
  const kubeConfig = loadKubeConfig({ data: JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
    clusters: [{ name: 'c', cluster: { server: server.origin, 'certificate-authority-data': fs.readFileSync(path.join(dir, 'ca.crt')).toString('base64') } }],
    users: [{ name: 'sa', user: { token } }], contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
  }) });
  const operator = await KubeClient.create(kubeConfig, { maxSockets: 2 });
  t.teardown(() => operator.close());
  const status = (method: string, apiPath: string, body?: unknown) => operator.request(method, apiPath, body).then(() => 200, (error: Error) => (error instanceof KubeError ? error.code : -1));
  const lifeboat = `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}`;
  // What the operator needs: its resources, their status, Events, the Secrets of its namespace (read).
  for (const [what, apiPath] of [['recoveryplans', `${lifeboat}/recoveryplans`], ['managedclusters', `${lifeboat}/managedclusters`], ['recoveryexecutionjobs', `${lifeboat}/recoveryexecutionjobs`], ['secrets', `/api/v1/namespaces/${ns}/secrets`]]) {
    t.is(await status('GET', apiPath!), 200, `list ${what} in its namespace`);
  }
  t.is(await status('POST', `/api/v1/namespaces/${ns}/events`, { apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'lp.' }, involvedObject: { kind: 'RecoveryPlan', name: 'x', namespace: ns }, reason: 'Test', message: 'm', type: 'Normal' }), 200, 'record an Event');
  // Nothing else: no Secret written, none read elsewhere, no cluster-scoped writes, no spec writes of its own resources.
  const elsewhere = uniqueName('lp-other');
  await createNamespace(destination, elsewhere);
  t.teardown(() => destination.request('DELETE', `/api/v1/namespaces/${elsewhere}`).catch(() => undefined));
  t.is(await status('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }), 403, 'create a Secret in its namespace');
  t.is(await status('GET', `/api/v1/namespaces/${elsewhere}/secrets`), 403, 'list Secrets of another namespace');
  t.is(await status('GET', '/api/v1/secrets'), 403, 'list Secrets cluster-wide');
  t.is(await status('POST', `/api/v1/namespaces/${elsewhere}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }), 403, 'write in another namespace');
  t.is(await status('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: uniqueName('lp') }, rules: [] }), 403, 'create a ClusterRole');
  t.is(await status('POST', `${lifeboat}/recoveryplans`, { apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: 'x' }, spec: {} }), 403, 'create a RecoveryPlan (plans are the platform team\'s)');
  t.is(await status('DELETE', `/api/v1/namespaces/${ns}`), 403, 'delete its own namespace');
});
