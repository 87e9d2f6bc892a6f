// The `lifeboat sandbox` command as a person uses it: env and status on the running sandbox, a clear line for a
// missing prerequisite, a half-started sandbox cleaned up, and a separate sandbox with a management cluster.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { readState, sandboxDown } from '../../src/sandbox/sandbox.ts';
import { component, stopComponent } from '../helpers/processes.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

function lifeboat(args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, timeout }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('sandbox env prints the three export lines of the running sandbox', async (t) => {
  const info = await sandbox();
  const { code, stdout } = await lifeboat(['sandbox', 'env', '--dir', info.dir]);
  t.is(code, 0);
  t.true(stdout.includes(`export KUBECONFIG=${info.kubeconfig}`));
  t.true(stdout.includes(`export LIFEBOAT_NATS_URL=${info.natsUrl}`));
  t.true(stdout.includes(`export LIFEBOAT_REDIS_URL=${info.redisUrl}`));
});

test('sandbox status shows every process healthy, with its memory', async (t) => {
  const info = await sandbox();
  const { code, stdout } = await lifeboat(['sandbox', 'status', '--dir', info.dir, '-o', 'json']);
  t.is(code, 0);
  const rows = JSON.parse(stdout) as { component: string; healthy: boolean; residentBytes: number }[];
  t.deepEqual(rows.map((row) => row.component).sort(), [
    'destination/etcd', 'destination/kube-apiserver', 'destination/kube-controller-manager', 'nats-server', 'redis-server',
    'source/etcd', 'source/kube-apiserver', 'source/kube-controller-manager',
  ]);
  t.true(rows.every((row) => row.healthy && row.residentBytes > 0));
});

test('sandbox up again on a running sandbox is a no-op that answers quickly', async (t) => {
  const info = await sandbox();
  const before = fs.readFileSync(path.join(info.dir, 'sandbox.json'), 'utf8');
  const { code, stdout } = await lifeboat(['sandbox', 'up', '--dir', info.dir]);
  t.is(code, 0);
  t.true(stdout.includes('export KUBECONFIG='));
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(info.dir, 'sandbox.json'), 'utf8')).clusters, JSON.parse(before).clusters);
});

test('no Go and no KUBEBUILDER_ASSETS gives one clear line, not a stack trace', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-nogo-'));
  const env = { PATH: '/usr/bin:/bin', HOME: os.homedir(), LIFEBOAT_CACHE: path.join(dir, 'cache') };
  const { code, stderr } = await lifeboat(['sandbox', 'up', '--dir', path.join(dir, 'sb')], env);
  t.is(code, 3);
  t.regex(stderr, /Go is not installed and KUBEBUILDER_ASSETS is not set/);
  t.false(stderr.includes('    at '));
  t.false(fs.existsSync(path.join(dir, 'sb')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a sandbox whose API server cannot start is cleaned up, naming the component', async (t) => {
  const info = await sandbox();
  const state = JSON.parse(fs.readFileSync(path.join(info.dir, 'sandbox.json'), 'utf8'));
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-half-')), 'sb');
  const assets = path.dirname(state.binaries.etcd);
  const env = { ...process.env, KUBEBUILDER_ASSETS: assets, TEST_ASSET_KUBE_APISERVER: '/bin/false', LIFEBOAT_SANDBOX_START_TIMEOUT_MS: '4000' };
  const { code, stderr } = await lifeboat(['sandbox', 'up', '--dir', dir], env);
  t.is(code, 1);
  t.regex(stderr, /kube-apiserver to become healthy/);
  t.false(fs.existsSync(dir), 'the half-started sandbox directory is removed');
  t.deepEqual(processesOf(dir), [], 'no process of the half-started sandbox is left running');
});

/** The pids of the processes whose command line names `dir` (every sandbox process names its directory). */
function processesOf(dir: string): string[] {
  return fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
    } catch {
      return false;
    }
  });
}

// Serial (before the others): not creating its sandbox while the half-started test creates one, as both take free
// ports that the kernel may hand out twice until one of them is bound.
test.serial('sandbox up --management: a third cluster that a later up keeps and restarts, and down stops', async (t) => {
  t.timeout(8 * 60_000);
  // A sandbox of its own (the shared one is never stopped here), on the shared one's binaries; its default ports are
  // taken by the shared sandbox, so it gets free ones (the management cluster's own defaults are free).
  const info = await sandbox();
  const assets = path.dirname(JSON.parse(fs.readFileSync(path.join(info.dir, 'sandbox.json'), 'utf8')).binaries.etcd as string);
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-mgmt-'));
  const dir = path.join(parent, 'sb');
  const env = { ...process.env, KUBEBUILDER_ASSETS: assets, LIFEBOAT_SANDBOX_DIR: dir };
  const status = async () => {
    const { code, stdout, stderr } = await lifeboat(['sandbox', 'status', '-o', 'json'], env);
    t.is(code, 0, stderr);
    return JSON.parse(stdout) as { component: string; pid: number; healthy: boolean }[];
  };
  let client: KubeClient | undefined;
  try {
    const up = await lifeboat(['sandbox', 'up', '--management'], env, 6 * 60_000);
    t.is(up.code, 0, up.stderr);
    t.true(up.stdout.includes(`export KUBECONFIG=${path.join(dir, 'kubeconfig')}`));

    const kubeconfig = parse(fs.readFileSync(path.join(dir, 'kubeconfig'), 'utf8')) as { contexts: { name: string; context: { cluster: string; user: string } }[] };
    t.deepEqual(kubeconfig.contexts.map((c) => c.name), ['source', 'destination', 'management', 'source-reader', 'destination-writer']);
    t.deepEqual(kubeconfig.contexts.find((c) => c.name === 'management')?.context, { cluster: 'management', user: 'management-admin' });
    client = await KubeClient.create(loadKubeConfig({ path: path.join(dir, 'kubeconfig'), context: 'management' }));
    const ns = uniqueName('mgmt');
    await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const service = await client.request<{ spec: { clusterIP: string } }>('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }], selector: { app: 'web' } },
    });
    t.regex(service.spec.clusterIP, /^10\.0\.2\./, 'the management cluster has its own service CIDR');

    const rows = await status();
    t.deepEqual(rows.map((row) => row.component).filter((name) => name.startsWith('management/')).sort(),
      ['management/etcd', 'management/kube-apiserver', 'management/kube-controller-manager']);
    t.is(rows.length, 11);
    t.true(rows.every((row) => row.healthy));

    // Once the sandbox has it, `up` without the flag keeps it, and starts it again when it is stopped.
    const ports = readState(dir)?.clusters.management?.ports;
    const stopped = component('management-apiserver', dir).pid;
    await stopComponent('management-apiserver', dir);
    const again = await lifeboat(['sandbox', 'up'], env, 3 * 60_000);
    t.is(again.code, 0, again.stderr);
    t.regex(again.stderr, /started management\/kube-apiserver/);
    t.notRegex(again.stderr, /started (source|destination|management)\/etcd/, 'the running processes are kept');
    t.deepEqual(readState(dir)?.clusters.management?.ports, ports);
    t.not(component('management-apiserver', dir).pid, stopped);
    t.true((await status()).every((row) => row.healthy));
    await client.request('GET', `/api/v1/namespaces/${ns}`);   // its data is kept (etcd ran on)

    const down = await lifeboat(['sandbox', 'down'], env);
    t.is(down.code, 0, down.stderr);
    t.regex(down.stderr, /stopped management\/etcd/);
    t.deepEqual(processesOf(dir), [], 'down stops every process, the management cluster\'s too');
    t.false(fs.existsSync(dir));
  } finally {
    client?.close();
    await sandboxDown(dir).catch(() => undefined);   // whatever happened above, nothing of this sandbox is left
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
