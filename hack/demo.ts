// `npm run demo`: the whole story on a fresh machine. Brings the sandbox up, deploys a small shop into the source
// cluster, runs lifeboat with the demo plan (plans/sandbox) and shows the initial sync, a live change and a delete
// arriving in the stand-by, the mirror's git log, and the deactivated Deployments in the destination.
import { checkPrerequisites, reportErrorsPlainly } from './prereqs.ts';

reportErrorsPlainly();
// `npm run demo -- --operator`: the same story driven by custom resources (hack/demo-operator.ts).
if (process.argv.includes('--operator')) {
  await import('./demo-operator.ts');
  process.exit(0);
}
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => console.log(`\n${bold(`▶ ${text}`)}`);
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

// The check comes before the rest of lifeboat is loaded (seconds on a busy machine): a machine that lacks something
// is told at once.
step('Checking prerequisites (redis-server, openssl, git, Go >= 1.26)');
checkPrerequisites((line) => console.log(`  ${line}`));
const { execFileSync } = await import('node:child_process');
const { default: fs } = await import('node:fs');
const { default: path } = await import('node:path');
const { Bus } = await import('../src/bus/bus.ts');
const { KubeClient, loadKubeConfig } = await import('../src/kube/client.ts');
const { cleanDemo, deployShop } = await import('./demo-shop.ts');
const { createMetrics, serveMetrics } = await import('../src/metrics/metrics.ts');
const { MirrorRepository } = await import('../src/mirror/repository.ts');
const { readIdentities } = await import('../src/runtime/plans.ts');
const { Runtime } = await import('../src/runtime/runtime.ts');
const { defaultSandboxDir, environmentLines, sandboxUp } = await import('../src/sandbox/sandbox.ts');
const { waitFor } = await import('../src/sandbox/process.ts');
const { StateStore } = await import('../src/state/state.ts');
const { createLogger } = await import('../src/util/log.ts');
const { formatTable } = await import('../src/cli/format.ts');
const { main } = await import('../src/cli/main.ts');

step('Starting the sandbox (the first run builds etcd, nats-server, kube-apiserver, kube-controller-manager and kubectl from Go modules: ~12 min once on 2 cores)');
const started = Date.now();
const info = await sandboxUp(defaultSandboxDir(), (line) => console.log(`  ${line}`));
console.log(`  two clusters, NATS and Redis ready in ${seconds(started)}`);

const connect = async (context: string) => KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context }));
const source = await connect('source');
const destination = await connect('destination');

step('Cleaning up a previous demo run');
// Its background `lifeboat run` first: it would hold the demo plan's leases and write the mirror removed below.
await stopDemoRun();
const state = await StateStore.connect(info.redisUrl);
await cleanDemo(source, destination, state);
// The mirror every lifeboat command reads by default (--mirror, $LIFEBOAT_MIRROR): the README's history, diff and
// recover lines then read the one the demo and its background run write.
const mirrorDir = path.resolve('.lifeboat', 'mirror.git');
fs.rmSync(mirrorDir, { recursive: true, force: true });

step('Deploying a small shop into the SOURCE cluster');
const objects = await deployShop(source);
console.log(`  ${objects.length} objects: 3 Deployments (7 replicas), Services, ConfigMaps, a Secret, a CRD and a custom resource`);

step('Starting lifeboat with plans/sandbox/demo.yaml (read-only identity on the source)');
const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL ?? 'warn' });
const bus = await Bus.connect(info.natsUrl);
const mirror = await MirrorRepository.open(mirrorDir);
const metrics = createMetrics();
const runtime = new Runtime({ plans: 'plans/sandbox', mirror, bus, state, metrics, log, identities: readIdentities(['plans/sandbox/demo-identity.txt']), planPollMs: 2000 });
const server = await serveMetrics(metrics, '127.0.0.1:0', () => runtime.ready());
const syncStarted = Date.now();
await runtime.start();
let last = '';
await waitFor('the initial sync', async () => {
  const status = await runtime.runners.get('demo')?.status();
  if (status) {
    const count = Object.values(status.objectsByKind).reduce((a, b) => a + b, 0);
    const line = `  initial sync: listing ${status.initialSync === 'done' ? 'done' : '…'}, mirror ${count} objects${status.mirrorHead ? ` at ${status.mirrorHead.slice(0, 8)}` : ''}, destination ${status.appliedHead && status.appliedHead === status.mirrorHead ? 'in sync' : 'applying…'}`;
    if (line !== last) console.log((last = line));
  }
  return runtime.ready() && status?.appliedHead === status?.mirrorHead && status?.mirrorHead !== undefined;
}, 180_000, 250);
console.log(`  initial sync done in ${seconds(syncStarted)} (metrics: http://${server.address}/metrics)`);

const readDeployment = (ns: string, name: string) =>
  destination.request<{ spec: { replicas: number }; metadata: { annotations?: Record<string, string> } }>('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);

step('A live change: storefront scaled to 5 and a feature flag flipped in the source');
let changeAt = Date.now();
await source.request('PATCH', '/apis/apps/v1/namespaces/demo-shop/deployments/storefront', { spec: { replicas: 5 } }, { contentType: 'application/merge-patch+json' });
await source.request('PATCH', '/api/v1/namespaces/demo-shop/configmaps/storefront-config', { data: { FEATURE_CHECKOUT_V2: 'true' } }, { contentType: 'application/merge-patch+json' });
await waitFor('the change in the stand-by', async () => {
  const [deploymentNow, config] = await Promise.all([
    readDeployment('demo-shop', 'storefront'),
    destination.request<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/demo-shop/configmaps/storefront-config'),
  ]);
  return deploymentNow.metadata.annotations?.['lifeboat.dev/replicas'] === '5' && config.data.FEATURE_CHECKOUT_V2 === 'true';
}, 30_000, 50);
console.log(`  arrived in the stand-by after ${seconds(changeAt)}: storefront still at 0 replicas there, 5 remembered for recovery`);

step('A delete: the catalog ConfigMap removed in the source');
changeAt = Date.now();
await source.request('DELETE', '/api/v1/namespaces/demo-shop/configmaps/catalog-config');
await waitFor('the delete in the stand-by', () => destination.request('GET', '/api/v1/namespaces/demo-shop/configmaps/catalog-config').then(() => false, () => true), 30_000, 50);
console.log(`  gone from the stand-by after ${seconds(changeAt)}`);

step(`The mirror's history (git --git-dir=${path.relative(process.cwd(), mirrorDir)} log)`);
console.log(execFileSync('git', [`--git-dir=${mirrorDir}`, 'log', '--format=%h %ad %s', '--date=format:%H:%M:%S', '-8'], { encoding: 'utf8' }).trimEnd().split('\n').map((line) => `  ${line}`).join('\n'));
console.log('\n  the latest commit in full:');
console.log(execFileSync('git', [`--git-dir=${mirrorDir}`, 'log', '-1', '--format=%B'], { encoding: 'utf8' }).trimEnd().split('\n').map((line) => `    ${line}`).join('\n'));

step('Deployments in the DESTINATION: asleep, ready to be woken');
const rows: string[][] = [];
for (const [ns, name] of [['demo-shop', 'storefront'], ['demo-shop', 'catalog'], ['demo-payments', 'payments']] as const) {
  const d = await readDeployment(ns, name);
  rows.push([`${ns}/${name}`, String(d.spec.replicas), d.metadata.annotations?.['lifeboat.dev/replicas'] ?? '-', (d.metadata.annotations?.['lifeboat.dev/revision'] ?? '').slice(0, 12)]);
}
console.log(formatTable(['DEPLOYMENT', 'REPLICAS', 'REPLICAS IN SOURCE', 'MIRROR REVISION'], rows).trimEnd().split('\n').map((line) => `  ${line}`).join('\n'));
const secret = await destination.request<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/demo-payments/secrets/payments-db');
console.log(`\n  the Secret is encrypted with age in the mirror and decrypted only at apply: password has ${Buffer.from(secret.data.password ?? '', 'base64').length} bytes in the stand-by`);

step('What a fail-over would do: lifeboat recover demo --dry-run (changes nothing; drop --dry-run on the day)');
const cliArgs = ['--plans', 'plans/sandbox', '--mirror', path.relative(process.cwd(), mirrorDir)];
process.env.LIFEBOAT_REDIS_URL = info.redisUrl;
await main(['recover', 'demo', ...cliArgs, '--identity', 'plans/sandbox/demo-identity.txt', '--dry-run']);
step('Every revision and when it reached the stand-by: lifeboat history demo');
await main(['history', 'demo', '--mirror', path.relative(process.cwd(), mirrorDir)]);

await runtime.stop();
await server.close();
await bus.close();
await state.close();
source.close();
destination.close();

step('The console: lifeboat run keeps replicating in the background and serves it (stopped by sandbox down)');
const consoleUrl = await startConsole(info, mirrorDir);
console.log(`  console: ${consoleUrl.url}  token: ${consoleUrl.token}`);
console.log('  (read-only without the token; paste it into the page to approve deletes, recover or drill)');

step('Done. The sandbox keeps running:');
console.log(`\n${environmentLines(info)}\n`);
console.log('  export PATH="$PWD/node_modules/.bin:$PATH"   # the lifeboat command (npm ci linked it), in this shell');
console.log('  lifeboat status');
console.log('  lifeboat history demo                        # the mirror .lifeboat/mirror.git, which the background run writes');
console.log('  lifeboat recover demo --dry-run              # what waking the stand-by would do');
console.log('  lifeboat sandbox down');
process.exit(0);

/**
 * Starts `lifeboat run --console-addr 127.0.0.1:9465` detached (the demo plan keeps replicating, the console shows
 * it), its pid in the sandbox directory for `sandbox down`; answers the console's URL and token once it listens.
 */
/** Stops the background `lifeboat run` an earlier demo left (one demo run at a time). */
async function stopDemoRun(): Promise<void> {
  const { demoRunPidFile } = await import('../src/sandbox/sandbox.ts');
  const pidFile = path.join(defaultSandboxDir(), demoRunPidFile);
  if (!fs.existsSync(pidFile)) return;
  const [pid] = fs.readFileSync(pidFile, 'utf8').split(' ');
  try {
    process.kill(Number(pid), 'SIGTERM');
    await waitFor('the earlier demo run to stop', async () => !fs.existsSync(`/proc/${pid}`), 20_000, 100);
  } catch {
    // already gone
  }
  fs.rmSync(pidFile, { force: true });
}

async function startConsole(sandboxInfo: typeof info, mirrorPath: string): Promise<{ url: string; token: string }> {
  const { spawn } = await import('node:child_process');
  const { randomBytes } = await import('node:crypto');
  const { demoRunPidFile } = await import('../src/sandbox/sandbox.ts');
  const pidFile = path.join(defaultSandboxDir(), demoRunPidFile);
  const addr = '127.0.0.1:9465';
  await stopDemoRun();
  const token = randomBytes(18).toString('base64url');
  const logFile = path.join(defaultSandboxDir(), 'demo-run.log');
  const child = spawn(process.execPath, ['src/cli/main.ts', 'run', '--plans', 'plans/sandbox', '--mirror', path.relative(process.cwd(), mirrorPath),
    '--identity', 'plans/sandbox/demo-identity.txt', '--metrics-addr', '127.0.0.1:0', '--console-addr', addr], {
    detached: true, stdio: ['ignore', fs.openSync(logFile, 'a'), fs.openSync(logFile, 'a')],
    env: { ...process.env, LIFEBOAT_CONSOLE_TOKEN: token, LIFEBOAT_REDIS_URL: sandboxInfo.redisUrl, LIFEBOAT_NATS_URL: sandboxInfo.natsUrl, KUBECONFIG: sandboxInfo.kubeconfig },
  });
  child.unref();
  fs.writeFileSync(pidFile, `${child.pid} ${process.execPath}\n`);
  const url = `http://${addr}/`;
  await waitFor(`the console at ${url} (log: ${path.relative(process.cwd(), logFile)})`, () => fetch(`${url}api/overview`).then((response) => response.ok, () => false), 60_000, 250);
  return { url, token };
}
