// The README keeps its word: after the demo, every command line of its fenced `bash` blocks, run as written in a
// shell on the sandbox, succeeds. Lines that set up or tear down the whole machine are not run here (CI runs the
// first two itself; `sandbox down` would stop the sandbox under the other tests); a command that runs until
// Ctrl-C (`run`) passes when it is still running, without an error, after 20 s. The shell is a user's: npm's
// node_modules/.bin is not on its PATH unless the README's own `export PATH=…` line puts it there, and what an
// `eval`/`export` line sets holds for the lines and blocks after it, as in one terminal read top to bottom.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { demoRunPidFile } from '../../src/sandbox/sandbox.ts';
import { sandbox } from '../helpers/sandbox.ts';

const root = new URL('../../', import.meta.url).pathname;

interface CommandLine {
  line: number;
  command: string;
}

/** Command lines of the README's ```bash blocks: continuations joined, comments dropped. */
export function readmeCommands(markdown: string): CommandLine[][] {
  const blocks: CommandLine[][] = [];
  let current: CommandLine[] | undefined;
  let pending: CommandLine | undefined;
  markdown.split('\n').forEach((text, index) => {
    if (current === undefined) {
      if (text.trim() === '```bash') current = [];
      return;
    }
    if (text.trim() === '```') {
      blocks.push(current);
      current = undefined;
      return;
    }
    const uncommented = text.replace(/^\s*#.*$|\s+#\s.*$/, '').trimEnd();
    const joined = pending ? `${pending.command} ${uncommented.trim()}` : uncommented;
    const entry = { line: pending?.line ?? index + 1, command: joined };
    if (joined.endsWith('\\')) pending = { ...entry, command: joined.slice(0, -1).trimEnd() };
    else {
      pending = undefined;
      if (joined.trim()) current.push({ ...entry, command: joined.trim() });
    }
  });
  return blocks;
}

/** Set-up and tear-down of the whole machine: CI runs these itself. */
const notHere = [/^npm ci\b/, /^npm test\b/, /^bash \.ci\/run\b/, /sandbox down\b/];
/** Commands that run until stopped. */
const longRunning = /^lifeboat (run|operator|console)\b/;

function shell(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGINT');
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, 15_000).unref();
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

test('the README\'s command lines parse into blocks', (t) => {
  const blocks = readmeCommands(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
  t.true(blocks.length >= 3);
  for (const block of blocks) for (const { command } of block) t.false(/<[a-z-]+>|\[--/.test(command), `a placeholder in ${command}`);
});

test('after the demo, every command line of the README works as written', async (t) => {
  t.timeout(12 * 60_000);
  const info = await sandbox();
  // A user's shell: the sandbox's environment comes from the README's own `eval "$(… sandbox env)"` lines.
  const env: NodeJS.ProcessEnv = { ...process.env, LIFEBOAT_SANDBOX_DIR: info.dir };
  for (const key of ['KUBECONFIG', 'LIFEBOAT_NATS_URL', 'LIFEBOAT_REDIS_URL']) delete env[key];
  // npm test runs under npm, which puts node_modules/.bin (lifeboat, the pinned node) first on PATH; a user's shell has neither.
  env.PATH = (env.PATH ?? '').split(path.delimiter).filter((entry) => !entry.endsWith(path.join('node_modules', '.bin'))).join(path.delimiter);
  // The demo leaves a `lifeboat run` serving the console; it is stopped at the end (sandbox down would, too).
  const demoRun = path.join(info.dir, demoRunPidFile);
  t.teardown(() => {
    const [pid] = fs.existsSync(demoRun) ? fs.readFileSync(demoRun, 'utf8').split(' ') : [];
    if (pid) process.kill(Number(pid), 'SIGTERM');
  });
  const demo = await shell('npm run demo', env, 8 * 60_000);
  t.is(demo.code, 0, `npm run demo failed:\n${demo.output.slice(-3000)}`);
  // It ends with the console's URL and token, and the console answers with the demo plan.
  const printed = /console: (http:\/\/127\.0\.0\.1:\d+\/)\s+token: (\S+)/.exec(demo.output);
  t.truthy(printed, `the demo printed no console URL and token:\n${demo.output.slice(-1500)}`);
  const overview = await (await fetch(`${printed![1]}api/overview`)).json() as { plans: { name: string }[] };
  t.true(overview.plans.some((plan) => plan.name === 'demo'), 'the console shows the demo plan');
  const session = await fetch(`${printed![1]}api/session`, { method: 'POST', headers: { Authorization: `Bearer ${printed![2]}` } });
  t.is(session.status, 204, 'the printed token is the console\'s');

  const blocks = readmeCommands(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
  // One terminal, as a user reads the README: an `eval`/`export` line holds for every line after it.
  let prelude = 'set -o pipefail\n';
  for (const block of blocks) {
    for (const { line, command } of block) {
      if (notHere.some((pattern) => pattern.test(command))) continue;
      const result = await shell(`${prelude}${command}`, env, longRunning.test(command) ? 20_000 : 120_000);
      const where = `README.md:${line}: ${command}`;
      if (longRunning.test(command)) {
        t.true(result.timedOut, `${where} stopped by itself (exit ${result.code}):\n${result.output.slice(-2000)}`);
        t.false(/"level":(50|60)|^lifeboat: /m.test(result.output), `${where} logged an error:\n${result.output.slice(-2000)}`);
      } else {
        t.false(result.timedOut, `${where} did not finish in 2 minutes`);
        t.is(result.code, 0, `${where} exited ${result.code}:\n${result.output.slice(-2000)}`);
      }
      if (/^(eval|export) /.test(command)) prelude += `${command}\n`;
    }
  }
});
