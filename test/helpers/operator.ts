// `lifeboat operator` as it runs in a pod, for the operator tests: the CRDs installed in the sandbox's destination,
// a namespace of its own with the ServiceAccount, Role and RoleBinding of manifests/rbac, a real token
// (TokenRequest) in a service-account directory, and the operator as a child process in-cluster style
// (LIFEBOAT_SERVICEACCOUNT_DIR, KUBERNETES_SERVICE_HOST/PORT). Its teardown removes what it made. `installCrds`
// alone is for tests that only store resources (plan apply).
import type { ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { Bus } from '../../src/bus/bus.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { freePort } from '../../src/sandbox/process.ts';
import type { SandboxInfo } from '../../src/sandbox/sandbox.ts';
import { StateStore } from '../../src/state/state.ts';
import { createNamespace, demoIdentityFile, get } from './pipeline.ts';
import { kube, sandbox, uniqueName } from './sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;
const cli = path.join(repoRoot, 'bin', 'lifeboat.js');
const run = promisify(execFile);

export interface PlanResource {
  metadata: { generation: number };
  status?: { observedGeneration?: number; objects?: number; lagSeconds?: number; appliedRevision?: string; mirrorRevision?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

export interface OperatorCluster {
  info: SandboxInfo;
  /** The operator's namespace in the destination cluster. */
  ns: string;
  dir: string;
  source: KubeClient;
  destination: KubeClient;
  kubectl: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
  kubectlApply: (yaml: string) => Promise<void>;
  /**
   * Starts an operator; its plans (for clean-up) are named. Operators started on one cluster are replicas: they share
   * NATS, Redis and the mirror (`dir/mirror.git`, what a volume every pod mounts is in a Deployment).
   */
  startOperator: (plans: string[], args?: string[]) => Promise<OperatorProcess>;
  resourceOf: (name: string) => Promise<PlanResource>;
  /** `kubectl wait --for=condition=Ready recoveryplan/NAME`; a failure shows the operator's last log lines. */
  kubectlWait: (name: string, operator: OperatorProcess) => Promise<unknown>;
}

export interface OperatorProcess {
  /** Its process id: lease values (`<hostname>/<pid>/<uuid>`) and Events' reportingInstance (`<hostname>/<pid>`) name it. */
  pid: number;
  /** Its metrics port (/metrics, /readyz). */
  port: number;
  output(): string;
  logTail(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export const readyOf = (resource: PlanResource) => resource.status?.conditions?.find((condition) => condition.type === 'Ready');

/** The CRDs in a sandbox cluster (the destination by default), as `kubectl apply --server-side` installs them, established. */
export async function installCrds(info: SandboxInfo, context = 'destination'): Promise<void> {
  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', info.kubeconfig, '--context', context, ...args], { encoding: 'utf8', timeout: 150_000 });
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager', 'lifeboat-test', '-k', path.join(repoRoot, 'manifests/crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/recoveryplans.lifeboat.dev', 'crd/managedclusters.lifeboat.dev');
}

/** The CRDs, the operator's namespace, RBAC and token; everything removed at the test's end. */
export async function operatorCluster(t: ExecutionContext): Promise<OperatorCluster> {
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

  await installCrds(info);

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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-operator-'));
  const serviceAccountDir = path.join(dir, 'serviceaccount');
  const server = await mountServiceAccount(destination, info, ns, 'lifeboat-operator', serviceAccountDir);

  const startOperator = async (plans: string[], args: string[] = []): Promise<OperatorProcess> => {
    const port = await freePort();
    const env = {
      ...process.env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_SERVICEACCOUNT_DIR: serviceAccountDir,
      KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port,
    };
    const child = spawn(process.execPath, [cli, 'operator', '--mirror', path.join(dir, 'mirror.git'), '--metrics-addr', `127.0.0.1:${port}`, '--identity', demoIdentityFile, ...args],
      { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const state = await StateStore.connect(info.redisUrl);
    const bus = await Bus.connect(info.natsUrl);
    t.teardown(async () => {
      child.kill('SIGKILL');
      for (const name of plans) {
        await bus.removePlan(name).catch(() => undefined);
        await state.forget(name).catch(() => undefined);
      }
      await bus.close();
      await state.close();
      await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    });
    return { pid: child.pid!, port, output: () => output, logTail: () => output.trim().split('\n').slice(-20).join('\n'), exited, kill: (signal) => child.kill(signal) };
  };
  const resourceOf = async (name: string) => (await get<PlanResource>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryplans/${name}`))!;
  const kubectlWait = (name: string, operator: OperatorProcess) => kubectl('wait', '-n', ns, '--for=condition=Ready', '--timeout=120s', `recoveryplan/${name}`).catch((error: Error) => {
    throw new Error(`${error.message}\noperator log:\n${operator.logTail()}`, { cause: error });
  });
  return { info, ns, dir, source, destination, kubectl, kubectlApply, startOperator, resourceOf, kubectlWait };
}

/**
 * What a kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount for a ServiceAccount of the sandbox's
 * destination: a TokenRequest token, the CA, the namespace, written into `dir`. Answers the API server's address.
 */
export async function mountServiceAccount(destination: KubeClient, info: SandboxInfo, ns: string, serviceAccount: string, dir: string): Promise<URL> {
  const token = await destination.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
  fs.mkdirSync(dir, { recursive: true });
  const cluster = loadKubeConfig({ path: info.kubeconfig, context: 'destination' }).getCurrentCluster()!;
  fs.writeFileSync(path.join(dir, 'token'), token.status.token);
  fs.writeFileSync(path.join(dir, 'ca.crt'), cluster.caData ? Buffer.from(cluster.caData, 'base64') : fs.readFileSync(cluster.caFile!));
  fs.writeFileSync(path.join(dir, 'namespace'), ns);
  return new URL(cluster.server);
}
