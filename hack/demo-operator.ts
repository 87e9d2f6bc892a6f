// `npm run demo -- --operator`: the operator way, end to end on the sandbox. The CRDs and the operator's RBAC go into
// the destination cluster (the 2-cluster topology: the operator beside the stand-by), `lifeboat operator` runs there
// as a process, the clusters and the demo plan are declared as resources with kubectl, and the whole recovery is a
// RecoveryExecutionJob created with kubectl and waited for with `kubectl wait`. Every kubectl line it runs is printed.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { checkPrerequisites } from './prereqs.ts';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => console.log(`\n${bold(`▶ ${text}`)}`);
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const indent = (text: string) => text.trimEnd().split('\n').map((line) => `  ${line}`).join('\n');

step('Checking prerequisites (redis-server, openssl, git, Go >= 1.26)');
checkPrerequisites((line) => console.log(`  ${line}`));
const { KubeClient, loadKubeConfig } = await import('../src/kube/client.ts');
const { defaultSandboxDir, environmentLines, sandboxUp } = await import('../src/sandbox/sandbox.ts');
const { freePort, waitFor } = await import('../src/sandbox/process.ts');
const { StateStore } = await import('../src/state/state.ts');
const { cleanDemo, deployShop } = await import('./demo-shop.ts');

step('Starting the sandbox');
const info = await sandboxUp(defaultSandboxDir(), (line) => console.log(`  ${line}`));
const env = { ...process.env, PATH: `${info.binDir ? `${info.binDir}:` : ''}${process.env.PATH}`, KUBECONFIG: info.kubeconfig };
const ns = 'lifeboat-system';
/** Runs kubectl against the destination, printing the command line and its output. */
const kubectl = (...args: string[]) => {
  console.log(`  $ kubectl ${args.join(' ')}`);
  const output = quietly(...args);
  if (output.trim()) console.log(indent(output).replace(/^/gm, '  '));
  return output;
};
const quietly = (...args: string[]) => execFileSync('kubectl', ['--context', 'destination', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const source = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context: 'source' }));
const destination = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context: 'destination' }));
const state = await StateStore.connect(info.redisUrl);

step('Cleaning up a previous demo run');
for (const kind of ['recoveryexecutionjobs', 'recoveryplans', 'managedclusters']) {
  await destination.request('DELETE', `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/${kind}`).catch(() => undefined);
}
await cleanDemo(source, destination, state);
const work = path.resolve('.lifeboat', 'demo-operator');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });

step('Deploying a small shop into the SOURCE cluster');
console.log(`  ${(await deployShop(source)).length} objects: 3 Deployments (7 replicas), Services, ConfigMaps, a Secret, a CRD and a custom resource`);

step('Installing the CRDs and the operator\'s least-privilege RBAC into the DESTINATION cluster');
kubectl('apply', '--server-side', '--force-conflicts', '-k', 'manifests/crds');
kubectl('wait', '--for=condition=Established', 'crd/recoveryplans.lifeboat.dev', 'crd/managedclusters.lifeboat.dev', 'crd/recoveryexecutionjobs.lifeboat.dev');
await destination.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => undefined);
kubectl('apply', '-k', 'manifests/rbac');

step(`Starting lifeboat operator for namespace ${ns} of the destination`);
const port = await freePort();
const operator = spawn(process.execPath, ['bin/lifeboat.js', 'operator', '--kubeconfig', info.kubeconfig, '--context', 'destination', '--namespace', ns,
  '--mirror', path.join(work, 'mirror.git'), '--identity', 'plans/sandbox/demo-identity.txt', '--metrics-addr', `127.0.0.1:${port}`],
{ env: { ...env, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] });
const exited = new Promise<number | null>((resolve) => operator.on('exit', resolve));
await waitFor('the operator\'s /healthz', () => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.ok, () => false), 60_000, 200);
console.log(`  running (pid ${operator.pid}; metrics http://127.0.0.1:${port}/metrics)`);

step('Declaring the clusters and the demo plan as resources (plans/sandbox, with the kubeconfig path made absolute for the operator)');
const documents = ['clusters.yaml', 'demo.yaml'].flatMap((file) => parseAllDocuments(fs.readFileSync(path.join('plans/sandbox', file), 'utf8')).map((document) => document.toJS() as {
  kind: string; metadata: { namespace?: string }; spec: { kubeconfig?: { path: string } };
}));
for (const document of documents) {
  document.metadata.namespace = ns;
  if (document.spec.kubeconfig) document.spec.kubeconfig.path = info.kubeconfig;
}
const resources = path.join(work, 'plan.yaml');
fs.writeFileSync(resources, documents.map((document) => stringify(document)).join('---\n'));
kubectl('apply', '-n', ns, '-f', path.relative(process.cwd(), resources));
const syncStarted = Date.now();
kubectl('wait', '-n', ns, '--for=condition=Ready', '--timeout=180s', 'recoveryplan/demo');
console.log(`  initial sync done in ${seconds(syncStarted)}`);
kubectl('get', '-n', ns, 'recoveryplans');
kubectl('get', '-n', ns, 'managedclusters');

step('A live change: storefront scaled to 5 in the source');
const changeAt = Date.now();
await source.request('PATCH', '/apis/apps/v1/namespaces/demo-shop/deployments/storefront', { spec: { replicas: 5 } }, { contentType: 'application/merge-patch+json' });
await waitFor('the change in the stand-by', async () => (await destination.request<{ metadata: { annotations?: Record<string, string> } }>('GET', '/apis/apps/v1/namespaces/demo-shop/deployments/storefront'))
  .metadata.annotations?.['lifeboat.dev/replicas'] === '5', 30_000, 50);
console.log(`  in the stand-by after ${seconds(changeAt)}: still 0 replicas there, 5 remembered for recovery`);
kubectl('get', '-n', 'demo-shop', 'deployments');

step('The bad day: a RecoveryExecutionJob, created and waited for with kubectl');
const job = path.join(work, 'recover.yaml');
fs.writeFileSync(job, stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob', metadata: { name: 'demo-recover', namespace: ns }, spec: { plan: 'demo' } }));
console.log(indent(fs.readFileSync(job, 'utf8')));
kubectl('create', '-f', path.relative(process.cwd(), job));
kubectl('wait', '-n', ns, '--for=condition=Succeeded', '--timeout=180s', 'recoveryexecutionjob/demo-recover');
kubectl('get', '-n', ns, 'recoveryexecutionjobs');
kubectl('get', '-n', 'demo-shop', 'deployments');
await waitFor('the plan to say FailedOver', async () => quietly('get', '-n', ns, 'recoveryplan/demo', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}') === 'FailedOver', 30_000, 1000);
kubectl('get', '-n', ns, 'recoveryplans', '-o', 'custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason');

operator.kill('SIGTERM');
await exited;
await state.close();
source.close();
destination.close();
step('Done. The sandbox keeps running:');
console.log(`\n${environmentLines(info)}\n`);
console.log(`  kubectl -n ${ns} describe recoveryexecutionjob demo-recover   # counts per kind, recoverySeconds, Events`);
console.log('  export PATH="$PWD/node_modules/.bin:$PATH"                      # the lifeboat command, in this shell');
console.log('  lifeboat failback demo --yes                                    # replication to the stand-by starts again');
console.log(`  lifeboat operator --context destination --namespace ${ns} --mirror ${path.relative(process.cwd(), path.join(work, 'mirror.git'))} --identity plans/sandbox/demo-identity.txt`);
process.exit(0);
