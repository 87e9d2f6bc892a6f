// The first minute on a machine without redis-server: `npm run demo`, `npm test`, `lifeboat sandbox up` and .ci/run's
// check stop within 5 s, before anything is built, with exit 3 and the exact command to run — never a stack trace.
// Root here, so installing is switched off (LIFEBOAT_NO_INSTALL=1), as it is for a user without sudo. (HOME stays:
// `go version` may leave a telemetry writer running in $HOME/.config/go after it exits.)
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = new URL('../../', import.meta.url).pathname;

const which = (name: string) => (process.env.PATH ?? '').split(':').map((entry) => path.join(entry, name)).find((file) => fs.existsSync(file));

/** A PATH with node, go, git, openssl, podman, runc, chromium, bash and apt-get — and no redis-server. */
function pathWithoutRedis(dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const name of ['go', 'git', 'openssl', 'podman', 'runc', 'chromium', 'bash', 'apt-get', 'env']) {
    const found = which(name);
    if (found) fs.symlinkSync(found, path.join(bin, name));
  }
  return bin;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repo, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

// demo, test and .ci/run check before loading the rest of lifeboat; the CLI loads every command first (about 1 s on
// an idle machine, several on a busy one), so its bound is looser.
const entryPoints = [
  { name: 'npm run demo', args: ['hack/demo.ts'], withinMs: 5000 },
  { name: 'npm test', args: ['hack/test.ts'], withinMs: 5000 },
  { name: 'lifeboat sandbox up', args: ['bin/lifeboat.js', 'sandbox', 'up'], withinMs: 15_000 },
  { name: '.ci/run\'s check', args: ['hack/prereqs.ts'], withinMs: 5000 },
];

for (const entry of entryPoints) {
  test.serial(`${entry.name} without redis-server: exit 3 within ${entry.withinMs / 1000} s, before any build, with the command to run`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-prereq-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
    const sandboxDir = path.join(dir, 'sandbox');
    const cache = path.join(dir, 'cache');
    const env = {
      PATH: pathWithoutRedis(dir), HOME: os.homedir(), LIFEBOAT_NO_INSTALL: '1', LIFEBOAT_SANDBOX_DIR: sandboxDir, LIFEBOAT_CACHE: cache,
      ...(process.env.GOCACHE ? { GOCACHE: process.env.GOCACHE } : {}),
    };
    const { code, stdout, stderr, ms } = await run(entry.args, env);
    const output = `${stdout}${stderr}`;
    t.is(code, 3, output);
    t.true(ms < entry.withinMs, `took ${ms} ms`);
    t.regex(stderr, /lifeboat: a prerequisite is missing \(nothing was built\):\n {2}redis-server not found: .*Debian\/Ubuntu package redis-server\)\n {2}run: apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server\n/);
    t.false(output.includes('    at '), 'no stack trace');
    t.false(/building|== typecheck/.test(output), 'nothing was built or checked first');
    t.false(fs.existsSync(sandboxDir));
    t.false(fs.existsSync(cache));
  });
}

test.serial('as root, a missing Debian package is installed with apt-get the way .ci/run does, then the check passes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-prereq-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const bin = pathWithoutRedis(dir);
  // A stand-in apt-get (the real one would change the machine): records its arguments; `install` "installs" redis-server.
  const calls = path.join(dir, 'apt-get.calls');
  const redis = which('redis-server') ?? '/bin/true';
  fs.rmSync(path.join(bin, 'apt-get'), { force: true });
  fs.writeFileSync(path.join(bin, 'apt-get'), `#!/bin/bash\necho "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${calls}\n[ "$1" = install ] && ${which('ln') ?? '/bin/ln'} -s ${redis} ${bin}/redis-server\nexit 0\n`, { mode: 0o755 });
  const { code, stderr } = await run(['hack/prereqs.ts'], { PATH: bin, HOME: os.homedir() });
  t.is(code, process.getuid?.() === 0 ? 0 : 3, stderr);
  if (process.getuid?.() === 0) {
    t.deepEqual(fs.readFileSync(calls, 'utf8').trim().split('\n'), [
      'DEBIAN_FRONTEND=noninteractive update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends redis-server',
    ]);
    t.regex(stderr, /installing Debian packages: redis-server/);
    t.regex(stderr, /prerequisites present/);
  }
});
