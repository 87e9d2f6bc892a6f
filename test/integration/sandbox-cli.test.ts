// The `lifeboat sandbox` command as a person uses it: env and status on the running sandbox, a clear line for a
// missing prerequisite, and a half-started sandbox cleaned up.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sandbox } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

function lifeboat(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, timeout: 120_000 }, (error, stdout, stderr) => {
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
  const leftovers = fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
    } catch {
      return false;
    }
  });
  t.deepEqual(leftovers, [], 'no process of the half-started sandbox is left running');
});
