// `npm test`: type-check, lint, bring the sandbox up once (or reuse a running one), run the unit and integration
// tests with ava, and end with one plain line `N passed, N failed` (ava's own summary omits passes on failure).
// A sandbox this run started is stopped at the end unless LIFEBOAT_KEEP_SANDBOX=1.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PrerequisiteError } from '../src/sandbox/prerequisites.ts';
import { checkPrerequisites, reportErrorsPlainly } from './prereqs.ts';

reportErrorsPlainly();
// Before the type-check, and before the sandbox's modules load: a machine that cannot run the sandbox is told so in
// seconds, with exit 3.
console.log('== prerequisites');
checkPrerequisites((line) => console.log(`   ${line}`), 'tests');
const { defaultSandboxDir, environmentLines, readState, sandboxDown, sandboxStatus, sandboxUp } = await import('../src/sandbox/sandbox.ts');

// ava waits for a test file's process to exit by itself: one that leaves a connection open (a helper that failed
// half-way through) would hold the run until CI's limit. Silence this long ends ava with a failure instead; the
// longest test here takes about 3 minutes, ava's own timeout is 3 minutes without progress.
const silenceMs = Number(process.env.LIFEBOAT_TEST_SILENCE_S ?? 600) * 1000;
// ava runs in its own process group (so that its workers can be stopped with it): an interrupt is passed on to it.
const groups = new Set<number>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const group of groups) {
      try { process.kill(-group, signal); } catch { /* already gone */ }
    }
    process.exit(130);
  });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, onLine?: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let silent: NodeJS.Timeout | undefined;
    const child = spawn(command, args, { env, stdio: ['ignore', onLine ? 'pipe' : 'inherit', 'inherit'], detached: onLine !== undefined });
    if (onLine && child.stdout) {
      let buffered = '';
      const silence = `${path.basename(command)} printed nothing for ${silenceMs / 1000} s: a test file did not finish or left a connection open (its process and workers are stopped)`;
      const watch = () => {
        clearTimeout(silent);
        silent = setTimeout(() => {
          onLine(`not ok 0 - ${silence}`);   // counted as a failure
          console.log(`✘ ${silence}`);
          try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
        }, silenceMs);
      };
      watch();
      groups.add(child.pid!);
      child.stdout.on('data', (chunk: Buffer) => {
        watch();
        process.stdout.write(chunk);
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        lines.forEach(onLine);
      });
      child.stdout.on('end', () => buffered && onLine(buffered));
    }
    child.on('close', (code) => {
      clearTimeout(silent);
      groups.delete(child.pid!);
      resolve(code ?? 1);
    });
  });
}

const bin = (name: string) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
let passed = 0;
let failed = 0;
const check = async (name: string, command: string, args: string[]) => {
  console.log(`\n== ${name}: ${[command.split('/').pop(), ...args].join(' ')}`);
  if ((await run(command, args)) === 0) passed++;
  else {
    failed++;
    console.log(`✘ ${name} failed`);
  }
};

await check('typecheck', bin('tsc'), ['--noEmit']);
await check('typecheck (console page)', bin('tsc'), ['--noEmit', '-p', 'src/console/web']);
await check('lint', bin('eslint'), ['.']);
// The page the console and browser tests serve (npm ci builds it too, through prepare).
await check('console page', process.execPath, [new URL('build-console.ts', import.meta.url).pathname]);
// The compiled JavaScript bin/lifeboat.js runs (and the image ships): the CLI tests run what users run.
await check('compile (dist/)', bin('tsc'), ['-p', 'tsconfig.build.json']);

const dir = defaultSandboxDir();
const wasUp = (await sandboxStatus(dir))?.every((row) => row.healthy) ?? false;
console.log(`\n== sandbox: ${wasUp ? 'reusing the running sandbox' : 'starting'} in ${dir}`);
let env: NodeJS.ProcessEnv = process.env;
try {
  const started = Date.now();
  const info = await sandboxUp(dir, (line) => console.log(`   ${line}`));
  console.log(`   ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n${environmentLines(info)}`);
  env = { ...process.env, KUBECONFIG: info.kubeconfig, LIFEBOAT_NATS_URL: info.natsUrl, LIFEBOAT_REDIS_URL: info.redisUrl, LIFEBOAT_SANDBOX_DIR: info.dir };
} catch (error) {
  if (error instanceof PrerequisiteError) throw error;   // one line and exit 3 (reportErrorsPlainly)
  console.log(`✘ sandbox failed to start: ${(error as Error).message}`);
  failed++;
}

if (env !== process.env || readState(dir)) {
  const count = (line: string) => {
    if (/^ok \d+/.test(line) && !/# SKIP/.test(line)) passed++;
    else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
  };
  const files = process.argv.slice(2);
  if (files.length) {
    console.log('\n== ava');
    await run(bin('ava'), ['--tap', ...files], env, count);
  } else {
    console.log('\n== ava: unit and integration tests');
    await run(bin('ava'), ['--tap', 'test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'], env, count);
    // Failure tests restart and pause shared sandbox components (NATS, Redis, an API server): one at a time, alone.
    console.log('\n== ava: failure tests, one at a time');
    await run(bin('ava'), ['--tap', '--serial', 'test/failure/**/*.test.ts'], env, count);
  }
}

if (!wasUp && process.env.LIFEBOAT_KEEP_SANDBOX !== '1') {
  await sandboxDown(dir).catch((error: Error) => console.log(`sandbox down failed: ${error.message}`));
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
