// One CLI: every command answers --help; every plan command takes the shared --plans, --mirror, --redis and --nats;
// with --plans the plan's mirror.path comes from the plan; revisions are what git takes; and every wrong invocation
// ends in one clear stderr line (no stack trace) and the exit code `lifeboat --help` documents. The tests issue 14
// added run one at a time (test.serial): each starts lifeboat processes, and the machine is shared.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commitMessage, MirrorRepository } from '../../src/mirror/repository.ts';
import { StateStore } from '../../src/state/state.ts';
import { Redis } from 'ioredis';
import { get, writePlan } from '../helpers/pipeline.ts';
import { kube, sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const planCommands = ['run', 'status', 'recover', 'failback', 'drill', 'history', 'diff', 'rollback', 'revert', 'resume', 'deletes list', 'deletes approve', 'deletes reject'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `lifeboat` as a person does, in `cwd`, with an environment holding none of lifeboat's own variables but `env`. */
function lifeboat(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Result> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LIFEBOAT_')));
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: options.cwd, env: { ...env, ...options.env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

/** `run` over `items`, at most `limit` at a time (each is a process; the machine is shared), results in order. */
async function pooled<T, R>(items: T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]!);
    }
  }));
  return results;
}

/** A plans directory with plan `plan` (mirror.path `custom/<plan>`), and a mirror holding its revisions and those of `loose`, a plan only the mirror knows. */
async function fixture() {
  const info = await sandbox();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-cli-'));
  const plan = uniqueName('cli');
  const loose = uniqueName('loose');
  const plansDir = path.join(dir, 'plans-here');
  fs.mkdirSync(plansDir);
  fs.writeFileSync(path.join(plansDir, 'clusters.yaml'), ['source', 'destination'].map((name) =>
    `apiVersion: lifeboat.dev/v1alpha1\nkind: ManagedCluster\nmetadata:\n  name: ${name}\nspec:\n  kubeconfig:\n    path: ${info.kubeconfig}\n    context: ${name}\n`).join('---\n'));
  writePlan(plansDir, plan, { resources: { include: [{ namespaces: ['shop'] }] }, secrets: { mode: 'exclude' }, mirror: { path: `custom/${plan}` } });
  const mirrorDir = path.join(dir, 'mirror.git');
  const mirror = await MirrorRepository.open(mirrorDir);
  const commit = async (owner: string, dirInMirror: string, mode: string) => (await mirror.commit(
    [{ path: `${dirInMirror}/namespaces/shop/ConfigMap/settings.yaml`, content: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  mode: ${mode}\n` }],
    (applied) => commitMessage(`mirror(${owner}): ${applied.length} objects`, applied.map((change) => `${change.type} ${change.path}`), { Plan: owner })))!.oid;
  const revisions = [await commit(plan, `custom/${plan}`, 'good'), await commit(loose, loose, 'first'), await commit(plan, `custom/${plan}`, 'corrupt')];
  // Plans whose destination's kubeconfig path names a file that is not a kubeconfig (relative to clusters.yaml).
  const wrongFilePlans = path.join(dir, 'wrong-file-plans');
  fs.mkdirSync(wrongFilePlans);
  fs.writeFileSync(path.join(wrongFilePlans, 'not-a-kubeconfig'), 'password: [hunter2\nroot:$6$secret-hash:19000\n');
  fs.writeFileSync(path.join(wrongFilePlans, 'clusters.yaml'), [['source', info.kubeconfig], ['destination', 'not-a-kubeconfig']].map(([name, file]) =>
    `apiVersion: lifeboat.dev/v1alpha1\nkind: ManagedCluster\nmetadata:\n  name: ${name}\nspec:\n  kubeconfig:\n    path: ${file}\n    context: ${name}\n`).join('---\n'));
  writePlan(wrongFilePlans, plan, { resources: { include: [{ namespaces: ['shop'] }] }, secrets: { mode: 'exclude' } });
  return { info, dir, plan, loose, plansDir, mirrorDir, revisions, wrongFilePlans };
}

const setup = fixture();
test.after.always(async () => fs.rmSync((await setup).dir, { recursive: true, force: true }));

/** Every command and subcommand, from the help of `lifeboat` and of each command group. */
async function commandsOf(prefix: string[], cwd: string): Promise<string[][]> {
  const { stdout } = await lifeboat([...prefix, '--help'], { cwd });
  const section = stdout.split(/\n(?=\S)/).find((part) => part.startsWith('Commands:')) ?? '';
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((match) => match[1]!).filter((name) => name !== 'help');
  const nested = await Promise.all(names.map((name) => commandsOf([...prefix, name], cwd)));
  return [...names.map((name) => [...prefix, name]), ...nested.flat()];
}

test('every command answers --help with exit 0; plan commands list the shared options; the program documents them, revisions and exit codes', async (t) => {
  const { dir } = await setup;
  const commands = await commandsOf([], dir);
  for (const command of planCommands) t.true(commands.some((found) => found.join(' ') === command), `${command} is a command`);
  t.true(commands.length >= planCommands.length + 6, commands.map((command) => command.join(' ')).join(', '));
  const helps = await pooled([[], ...commands], 2, async (command) => ({ command: command.join(' '), result: await lifeboat([...command, '--help'], { cwd: dir }) }));
  for (const { command, result } of helps) {
    t.is(result.code, 0, `lifeboat ${command} --help: ${result.stderr}`);
    t.regex(result.stdout, /^Usage: lifeboat/, `lifeboat ${command} --help`);
    t.is(result.stderr, '', `lifeboat ${command} --help`);
    if (planCommands.includes(command)) {
      for (const flag of ['--plans <source>', '--mirror <dir>', '--redis <url>', '--nats <url>']) t.true(result.stdout.includes(flag), `lifeboat ${command} --help lists ${flag}`);
      // Commander wraps the option descriptions at the terminal's width.
      t.regex(result.stdout.replace(/\s+/g, ' '), /env: LIFEBOAT_PLANS\).*env: LIFEBOAT_MIRROR\).*env: LIFEBOAT_REDIS_URL\).*env: LIFEBOAT_NATS_URL\)/, command);
    }
  }
  const program = helps.find((help) => help.command === '')!.result.stdout;
  t.regex(program, /Exit codes: 0 ok; 1 failed .*\n2 usage .*; 3 a prerequisite/);
  t.regex(program, /Shared options: every command that works on a plan/);
  const diff = helps.find((help) => help.command === 'diff')!.result.stdout;
  t.regex(diff, /lifeboat diff demo HEAD {2,}what the newest revision/);
  t.regex(diff, /lifeboat diff demo HEAD~3 HEAD {2,}everything from/);
  const version = await lifeboat(['--version'], { cwd: dir });
  t.is(version.code, 0);
  t.regex(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('with --plans, history and diff read the plan\'s mirror.path; without a plans source, a plan is its own mirror path; revisions as git takes them', async (t) => {
  const { info, dir, plan, loose, plansDir, mirrorDir, revisions } = await setup;
  const history = await lifeboat(['history', plan, '--plans', plansDir, '--mirror', mirrorDir, '--redis', info.redisUrl, '-o', 'json'], { cwd: dir });
  t.is(history.code, 0, history.stderr);
  t.deepEqual((JSON.parse(history.stdout) as { revisions: { revision: string }[] }).revisions.map((entry) => entry.revision), [revisions[2], revisions[0]]);

  const fromEnv = await lifeboat(['diff', plan, 'HEAD'], { cwd: dir, env: { LIFEBOAT_PLANS: plansDir, LIFEBOAT_MIRROR: mirrorDir } });
  t.is(fromEnv.code, 0, fromEnv.stderr);
  t.regex(fromEnv.stdout, new RegExp(`--- a/custom/${plan}/namespaces/shop/ConfigMap/settings\\.yaml\\n[\\s\\S]*-  mode: good\\n\\+  mode: corrupt\\n`));
  const twoRevisions = await lifeboat(['diff', plan, 'HEAD~2', revisions[2]!.slice(0, 8), '--plans', plansDir, '--mirror', mirrorDir], { cwd: dir });
  t.is(twoRevisions.stdout, fromEnv.stdout, 'HEAD~2 to a short id: the same change');
  const first = await lifeboat(['diff', plan, 'HEAD^^', '--plans', plansDir, '--mirror', mirrorDir], { cwd: dir });
  t.regex(first.stdout, /^--- \/dev\/null\n/, 'HEAD^^ created the ConfigMap');

  // No plans source here (./plans is missing): the plan name is the mirror path.
  const looseHistory = await lifeboat(['history', loose, '--mirror', mirrorDir, '--redis', 'redis://127.0.0.1:1', '-o', 'json'], { cwd: dir });
  t.is(looseHistory.code, 0, looseHistory.stderr);
  t.deepEqual((JSON.parse(looseHistory.stdout) as { revisions: { revision: string; applied: string }[] }).revisions.map((entry) => [entry.revision, entry.applied]), [[revisions[1], 'unknown']]);
  t.regex(looseHistory.stderr, /^warning: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED .*; APPLIED shows unknown\n$/, 'optional Redis: one warning line');
  // git's range, as the help reads it: the same as two revisions; an empty side is HEAD.
  for (const range of ['HEAD~2..HEAD', 'HEAD~2..']) {
    const ranged = await lifeboat(['diff', plan, range, '--plans', plansDir, '--mirror', mirrorDir], { cwd: dir });
    t.is(ranged.code, 0, ranged.stderr);
    t.is(ranged.stdout, fromEnv.stdout, `${range}: the same change`);
  }
  const looseDiff = await lifeboat(['diff', loose, 'HEAD~1', '--mirror', mirrorDir], { cwd: dir });
  t.regex(looseDiff.stdout, new RegExp(`^--- /dev/null\\n\\+\\+\\+ b/${loose}/namespaces/shop/ConfigMap/settings\\.yaml\\n`));
});

interface WrongInvocation {
  title: string;
  args: string[];
  env?: Record<string, string>;
  code: 1 | 2;
  stderr: RegExp;
}

const wrongInvocations = (f: Awaited<typeof setup>): WrongInvocation[] => {
  const missing = path.join(f.dir, 'no-such-mirror.git');
  const known = `\\(known: ${f.plan}\\)`;
  return [
    { title: 'unknown plan (history --plans)', args: ['history', 'nope', '--plans', f.plansDir, '--mirror', f.mirrorDir], code: 1, stderr: new RegExp(`^lifeboat: no plan "nope" in ${f.plansDir} ${known}$`) },
    { title: 'unknown plan ($LIFEBOAT_PLANS, diff)', args: ['diff', 'nope', 'HEAD', '--mirror', f.mirrorDir], env: { LIFEBOAT_PLANS: f.plansDir }, code: 1, stderr: new RegExp(`^lifeboat: no plan "nope" in ${f.plansDir} ${known}$`) },
    { title: 'unknown plan (recover)', args: ['recover', 'nope', '--plans', f.plansDir, '--dry-run'], code: 1, stderr: new RegExp(`^lifeboat: no plan "nope" in ${f.plansDir} ${known}$`) },
    { title: 'unknown plan (deletes list)', args: ['deletes', 'list', 'nope', '--plans', f.plansDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: no plan "nope" in ${f.plansDir} ${known}$`) },
    { title: 'unknown plan (resume)', args: ['resume', 'nope', '--plans', f.plansDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: no plan "nope" in ${f.plansDir} ${known}$`) },
    { title: 'missing plans directory (drill)', args: ['drill', f.plan, '--mirror', f.mirrorDir], code: 1, stderr: /^lifeboat: plans directory .*\/plans does not exist$/ },
    { title: 'unknown revision (diff)', args: ['diff', f.plan, 'no-such-branch', '--plans', f.plansDir, '--mirror', f.mirrorDir], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "no-such-branch" in ${f.mirrorDir}$`) },
    { title: 'unknown revision (diff HEAD~9)', args: ['diff', f.plan, 'HEAD', 'HEAD~9', '--plans', f.plansDir, '--mirror', f.mirrorDir], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "HEAD~9" in ${f.mirrorDir}: commit [0-9a-f]{12} has no parent$`) },
    { title: 'unknown revision (rollback)', args: ['rollback', f.plan, '--to', 'deadbeef', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "deadbeef" in ${f.mirrorDir}$`) },
    { title: 'unknown revision (recover --to)', args: ['recover', f.plan, '--to', 'HEAD~3', '--dry-run', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "HEAD~3" in ${f.mirrorDir}: commit [0-9a-f]{12} has no parent$`) },
    // Issue 14, finding 4: a mistyped restore point is refused before anything happens (no failover flag, no job).
    { title: 'unknown revision (recover --to, not a dry run)', args: ['recover', f.plan, '--to', 'deadbeef', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "deadbeef" in ${f.mirrorDir}$`) },
    { title: 'not a time (recover --at, not a dry run)', args: ['recover', f.plan, '--at', '2026-13-01', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: /^lifeboat: --at "2026-13-01": not an RFC 3339 time \(e\.g\. 2026-11-24T10:00:00Z\)$/ },
    { title: 'not a time (recover --at --dry-run)', args: ['recover', f.plan, '--at', 'yesterday', '--dry-run', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: /^lifeboat: --at "yesterday": not an RFC 3339 time/ },
    { title: 'no revision at or before --at (recover)', args: ['recover', f.plan, '--at', '1990-01-01T00:00:00Z', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: /^lifeboat: --at 1990-01-01T00:00:00Z: the mirror has no commit at or before that time$/ },
    { title: 'missing mirror (recover --to)', args: ['recover', f.plan, '--to', 'HEAD', '--plans', f.plansDir, '--mirror', missing, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: no mirror repository at ${missing} `) },
    // Issue 14, finding 8: a kubeconfig path that names another file is refused by name, its content never printed.
    { title: 'a kubeconfig path that names another file (recover)', args: ['recover', f.plan, '--dry-run', '--plans', f.wrongFilePlans, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: kubeconfig ${f.wrongFilePlans}/not-a-kubeconfig: not YAML \\([^)]*line 2\\)$`) },
    { title: 'a kubeconfig path that names another file (drill)', args: ['drill', f.plan, '--plans', f.wrongFilePlans, '--mirror', f.mirrorDir], code: 1, stderr: new RegExp(`^lifeboat: kubeconfig ${f.wrongFilePlans}/not-a-kubeconfig: not YAML`) },
    { title: 'unknown revision (revert)', args: ['revert', f.plan, 'v9', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], code: 1, stderr: new RegExp(`^lifeboat: unknown revision "v9" in ${f.mirrorDir}$`) },
    { title: 'missing mirror (history)', args: ['history', f.plan, '--mirror', missing], code: 1, stderr: new RegExp(`^lifeboat: no mirror repository at ${missing} \\(\`lifeboat run\` creates it; set --mirror or LIFEBOAT_MIRROR\\)$`) },
    { title: 'missing mirror ($LIFEBOAT_MIRROR, diff)', args: ['diff', f.plan, 'HEAD'], env: { LIFEBOAT_MIRROR: missing }, code: 1, stderr: new RegExp(`^lifeboat: no mirror repository at ${missing} `) },
    { title: 'missing mirror (rollback)', args: ['rollback', f.plan, '--to', 'HEAD', '--mirror', missing], code: 1, stderr: new RegExp(`^lifeboat: no mirror repository at ${missing} `) },
    { title: 'unreachable Redis (status)', args: ['status', '--redis', 'redis://127.0.0.1:1'], code: 1, stderr: /^lifeboat: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1 \(set --redis or LIFEBOAT_REDIS_URL\)$/ },
    { title: 'unreachable Redis ($LIFEBOAT_REDIS_URL, deletes list)', args: ['deletes', 'list', f.plan], env: { LIFEBOAT_REDIS_URL: 'redis://127.0.0.1:1' }, code: 1, stderr: /^lifeboat: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/ },
    { title: 'unreachable Redis (resume)', args: ['resume', f.plan, '--redis', 'redis://127.0.0.1:1'], code: 1, stderr: /^lifeboat: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/ },
    { title: 'unreachable Redis (rollback)', args: ['rollback', f.plan, '--to', 'HEAD~1', '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', 'redis://127.0.0.1:1'], code: 1, stderr: /^lifeboat: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/ },
    // Issue 14, the Low list: --redis and --nats are checked, and named, before anything connects.
    { title: 'not a URL (status --redis)', args: ['status', '--redis', 'not a url'], code: 2, stderr: /^lifeboat: --redis "not a url": not a URL \(e\.g\. redis:\/\/127\.0\.0\.1:6379 or redis:\/\/host:6379\/2 for database 2\)$/ },
    { title: 'not a redis:// URL ($LIFEBOAT_REDIS_URL, resume)', args: ['resume', f.plan], env: { LIFEBOAT_REDIS_URL: 'localhost:6379' }, code: 2, stderr: /^lifeboat: \$LIFEBOAT_REDIS_URL "localhost:6379": not a redis:\/\/ or rediss:\/\/ URL/ },
    { title: 'a database that is not a number (status --redis)', args: ['status', '--redis', `${f.info.redisUrl}/x`], code: 2, stderr: /^lifeboat: --redis "redis:\/\/[^"]+\/x": the path is a database number, not "x"/ },
    { title: 'a database Redis does not have (status --redis)', args: ['status', '--redis', `${f.info.redisUrl}/99`], code: 1, stderr: /^lifeboat: --redis redis:\/\/\S+\/99: Redis has no database 99 \(DB index is out of range\)$/ },
    { title: 'an empty database beside one with plans (status --redis)', args: ['status', '--redis', `${f.info.redisUrl}/14`], code: 1, stderr: /^lifeboat: no plan is running in database 14 of redis:\/\/\S+\/14, but database [\d, ]*\b13\b[\d, ]* has some: did you mean --redis redis:\/\/\S+\/\d+\?$/ },
    { title: 'not a NATS URL (deletes approve --nats)', args: ['deletes', 'approve', f.plan, '--all', '--nats', 'localhost:4222'], code: 2, stderr: /^lifeboat: --nats "localhost:4222": not a nats:\/\/ or tls:\/\/ or ws:\/\/ or wss:\/\/ URL \(e\.g\. nats:\/\/127\.0\.0\.1:4222\)$/ },
    { title: 'a range and a second revision (diff)', args: ['diff', f.plan, 'HEAD~1..HEAD', 'HEAD', '--plans', f.plansDir, '--mirror', f.mirrorDir], code: 2, stderr: /^lifeboat: give either a range \(HEAD~1\.\.HEAD\) or two revisions, not both$/ },
    { title: 'unknown option', args: ['history', f.plan, '--bogus'], code: 2, stderr: /^lifeboat: unknown option '--bogus' \(see `lifeboat history --help`\)$/ },
    { title: 'unknown option (deletes approve)', args: ['deletes', 'approve', f.plan, '--al'], code: 2, stderr: /^lifeboat: unknown option '--al'.*\(see `lifeboat deletes approve --help`\)$/ },
    { title: 'missing argument', args: ['diff', f.plan], code: 2, stderr: /^lifeboat: missing required argument 'revision' \(see `lifeboat diff --help`\)$/ },
    { title: 'missing required option', args: ['rollback', f.plan], code: 2, stderr: /^lifeboat: required option '--to <revision>' not specified/ },
    { title: 'unknown command', args: ['histroy', f.plan], code: 2, stderr: /^lifeboat: unknown command 'histroy'/ },
    { title: 'options that exclude each other', args: ['recover', f.plan, '--to', 'HEAD', '--at', '2026-01-01T00:00:00Z'], code: 2, stderr: /^lifeboat: give either --to \(a revision\) or --at \(a time\), not both$/ },
    { title: 'a decision that names nothing', args: ['deletes', 'reject', f.plan], code: 2, stderr: /^lifeboat: say which deletes: --all, or mirror paths/ },
  ];
};

test('wrong invocations: one clear stderr line, no stack trace, the documented exit code', async (t) => {
  const f = await setup;
  // Database 13 holds a plan's status, database 14 nothing: `status --redis …/14` is a mistyped database.
  const thirteen = await StateStore.connect(`${f.info.redisUrl}/13`);
  await thirteen.savePlanStatus(f.plan, {});
  t.teardown(async () => {
    await thirteen.forget(f.plan);
    await thirteen.close();
  });
  const cases = wrongInvocations(f);
  const results = await pooled(cases, 2, (invocation) => lifeboat(invocation.args, { cwd: f.dir, env: invocation.env }));
  cases.forEach((invocation, index) => {
    const result = results[index]!;
    const where = `${invocation.title}: lifeboat ${invocation.args.join(' ')}\n${result.stderr}`;
    t.is(result.code, invocation.code, where);
    t.is(result.stdout, '', where);
    t.true(result.stderr.endsWith('\n') && result.stderr.trimEnd().split('\n').length === 1, `one line: ${where}`);
    t.false(/^\s+at /m.test(result.stderr), `no stack trace: ${where}`);
    t.regex(result.stderr.trimEnd(), invocation.stderr, where);
    // A server that does not answer is an error, not a wait: well before execFile's 60 s (the bound is loose because
    // the machine is shared; a command alone answers in 1–3 s).
    if (/unreachable/.test(invocation.title)) t.true(result.seconds < 45, `answered in ${result.seconds} s: ${where}`);
  });
  t.false(fs.existsSync(path.join(f.dir, 'no-such-mirror.git')), 'a read-only command does not create a mirror');
  t.false(fs.existsSync(path.join(f.dir, '.lifeboat')), 'nor the default one');
});

test.serial('plan validate refuses a kubeconfig path that names a file that is not a kubeconfig, naming the file and never its content', async (t) => {
  const f = await setup;
  const result = await lifeboat(['plan', 'validate', f.wrongFilePlans], { cwd: f.dir });
  t.is(result.code, 1, result.stderr);
  t.regex(result.stdout, new RegExp(`^${f.wrongFilePlans}/clusters\\.yaml:\\d+:\\d+: spec\\.kubeconfig\\.path: ManagedCluster destination: kubeconfig wrong-file-plans/not-a-kubeconfig cannot be used: not YAML \\(BAD_INDENT at line 2, column 1\\)$`, 'm'), 'named relative to the working directory');
  t.false(/hunter2|secret-hash/.test(result.stdout + result.stderr), 'the content of the file is never printed');
});

test.serial('plan validate names a refused 10,000-segment JSON pointer in a short line', async (t) => {
  const f = await setup;
  const plansDir = path.join(f.dir, uniqueName('pointer'));
  fs.mkdirSync(plansDir);
  fs.copyFileSync(path.join(f.plansDir, 'clusters.yaml'), path.join(plansDir, 'clusters.yaml'));
  // Two plans: a pointer that does not parse stops its plan before the check against the kinds' fields.
  const patched = (namespace: string, pointer: string) => ({
    resources: { include: [{ namespaces: [namespace], kinds: ['apps/Deployment'] }] }, secrets: { mode: 'exclude' },
    transforms: [{ select: { kinds: ['apps/Deployment'] }, jsonPatch: [{ op: 'replace', path: pointer, value: 1 }] }],
  });
  writePlan(plansDir, 'deep', patched('a', `/spec${'/x'.repeat(10_000)}`));
  writePlan(plansDir, 'tilde', patched('b', `${'/a'.repeat(10_000)}~2`));
  const result = await lifeboat(['plan', 'validate', plansDir], { cwd: f.dir });
  t.is(result.code, 1, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  t.is(lines.length, 3, result.stdout.slice(0, 2000));
  for (const line of lines) t.true(line.length < 400, `${line.length} characters: ${line.slice(0, 400)}`);
  t.regex(lines[0]!, /deep\.yaml:\d+:\d+: spec\.transforms\[0\]\.jsonPatch\[0\]\.path: op "replace" at "\/spec\/x\/x[x/]*…[x/]+" \(20005 characters\) cannot apply to apps\/Deployment: \/spec has no field "x"$/);
  t.regex(lines[1]!, /tilde\.yaml:\d+:\d+: spec\.transforms\[0\]\.jsonPatch\[0\]\.path: invalid JSON pointer "\/a\/a[a/]*…[a/]+~2" \(20002 characters\): "~" must be followed by 0/);
});

test.serial('a reader that leaves early (lifeboat status | true) ends the command quietly, exit 0', async (t) => {
  const f = await setup;
  // Database 12 holds one plan's status, for status to print.
  const url = `${f.info.redisUrl}/12`;
  const twelve = await StateStore.connect(url);
  await twelve.savePlanStatus(f.plan, { plan: f.plan });
  t.teardown(async () => {
    await twelve.forget(f.plan);
    await twelve.close();
  });
  // A real pipe to a reader that is gone before the first line is written (`true` reads nothing); bash gives back
  // lifeboat's own exit status.
  const args = [process.execPath, cli, 'status', '-o', 'json', '--redis', url];
  const child = spawn('bash', ['-c', '"$@" | true; exit "${PIPESTATUS[0]}"', 'bash', ...args], { cwd: f.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.is(stderr, '', 'no EPIPE, no stack trace');
});

test.serial('history: APPLIED is when a revision first reached the stand-by, not when a later pass (a retry) found it again', async (t) => {
  const f = await setup;
  const state = await StateStore.connect(f.info.redisUrl);
  const before = await state.appliedTimes(f.plan);
  t.teardown(async () => {
    for (const [revision, at] of before) await state.recordAppliedAt(f.plan, revision, at);
    await state.close();
  });
  const first = Date.parse('2026-11-24T10:00:00.000Z');
  await state.recordAppliedAt(f.plan, f.revisions[2]!, first);
  await state.recordAppliedAt(f.plan, f.revisions[2]!, first + 76_000);
  const history = await lifeboat(['history', f.plan, '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl, '-o', 'json'], { cwd: f.dir });
  t.is(history.code, 0, history.stderr);
  const entries = (JSON.parse(history.stdout) as { revisions: { revision: string; applied: string }[] }).revisions;
  t.deepEqual(entries.find((entry) => entry.revision === f.revisions[2])?.applied, '2026-11-24T10:00:00.000Z');
});

/** The RecoveryExecutionJobs of a plan in the stand-by (none when the CRD is not installed yet). */
async function jobsOf(plan: string): Promise<string[]> {
  const destination = await kube('destination');
  try {
    const list = await get<{ items: { metadata: { name: string } }[] }>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/lifeboat-system/recoveryexecutionjobs?labelSelector=lifeboat.dev/plan=${plan}`);
    return (list?.items ?? []).map((job) => job.metadata.name);
  } catch {
    return [];
  }
}

test.serial('a refused recover changes nothing: the plan is not failed over and no RecoveryExecutionJob is left behind', async (t) => {
  const f = await setup;
  for (const restorePoint of [['--to', 'deadbeef'], ['--at', '2026-13-01'], ['--at', 'yesterday', '--dry-run'], ['--at', '1990-01-01T00:00:00Z'], ['--at', `2026-01-01T00:00:00Z${'x'.repeat(20_000)}`]]) {
    const result = await lifeboat(['recover', f.plan, ...restorePoint, '--plans', f.plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl], { cwd: f.dir });
    t.is(result.code, 1, result.stderr);
    t.true(result.stderr.length < 300, `a short line: ${result.stderr.slice(0, 300)}`);
  }
  const redis = new Redis(f.info.redisUrl);
  try {
    t.is(await redis.get(`lifeboat:${f.plan}:failover`), null, 'replication to the stand-by goes on');
  } finally {
    redis.disconnect();
  }
  t.deepEqual(await jobsOf(f.plan), []);
});

test.serial('failback undoes a failover: it says what it overwrites, asks (or takes --yes), clears the mark and records who and when', async (t) => {
  const f = await setup;
  const plan = uniqueName('failback');
  const plansDir = path.join(f.dir, plan); // its own: the table names the plans f.plansDir defines
  fs.mkdirSync(plansDir);
  fs.copyFileSync(path.join(f.plansDir, 'clusters.yaml'), path.join(plansDir, 'clusters.yaml'));
  writePlan(plansDir, plan, { resources: { include: [{ namespaces: [uniqueName('none')] }] }, secrets: { mode: 'exclude' }, reconcile: { drift: 'correct', interval: '2m' } });
  const common = ['--plans', plansDir, '--mirror', f.mirrorDir, '--redis', f.info.redisUrl, '--nats', f.info.natsUrl];
  const redis = new Redis(f.info.redisUrl);
  t.teardown(() => redis.disconnect());
  try {
    // The job's own outcome is not this test's: activation lists every kind of the shared stand-by, where other
    // tests' CRDs come and go. The mark is written before activation either way.
    const recovered = await lifeboat(['recover', plan, '--name', `${plan}-job`, ...common], { cwd: f.dir });
    t.is(await redis.get(`lifeboat:${plan}:failover`), `${plan}-job`, `recover marks the plan failed over: ${recovered.stderr}`);

    const asked = await lifeboat(['failback', plan, ...common], { cwd: f.dir });
    t.is(asked.code, 2, 'no terminal to ask on: a usage error');
    t.is(asked.stderr, 'lifeboat: stdin is not a terminal: pass --yes to confirm\n');
    t.is(await redis.get(`lifeboat:${plan}:failover`), `${plan}-job`, 'unconfirmed: still failed over');

    const done = await lifeboat(['failback', plan, '--yes', ...common], { cwd: f.dir });
    t.is(done.code, 0, done.stderr);
    t.regex(done.stdout, new RegExp(`^plan ${plan} failed over \\(RecoveryExecutionJob lifeboat-system/${plan}-job\\)\\.\\nReplication to the stand-by restarts`));
    t.regex(done.stdout, /within reconcile\.interval, 2m\) also makes every object labelled lifeboat\.dev\/plan=\S+ equal to the mirror: changes made at the stand-by since the failover are overwritten/);
    t.regex(done.stdout, new RegExp(`\\nplan ${plan} failed back by \\S+@\\S+ at \\d{4}-\\d\\d-\\d\\dT[^ ]+Z: replication to the stand-by restarts`));
    t.is(await redis.get(`lifeboat:${plan}:failover`), null, 'synchronizers write to the stand-by again');
    const record = JSON.parse((await redis.get(`lifeboat:${plan}:failback`))!) as { job: string; by: string; at: string };
    t.is(record.job, `${plan}-job`);
    t.regex(record.by, /\S+@\S+/);
    t.regex(done.stderr, /"msg":"failed back: replication to the stand-by restarts"/, 'the log says who and when');

    const again = await lifeboat(['failback', plan, '--yes', ...common], { cwd: f.dir });
    t.is(again.code, 0, again.stderr);
    t.is(again.stdout, `plan ${plan} is not failed over: nothing to do\n`);
  } finally {
    await redis.del(`lifeboat:${plan}:failover`, `lifeboat:${plan}:failback`);
  }
});

test('LIFEBOAT_DEBUG=1 shows the stack trace of an error', async (t) => {
  const f = await setup;
  const result = await lifeboat(['diff', f.plan, 'no-such-branch', '--plans', f.plansDir, '--mirror', f.mirrorDir], { cwd: f.dir, env: { LIFEBOAT_DEBUG: '1' } });
  t.is(result.code, 1);
  t.regex(result.stderr, /^lifeboat: unknown revision "no-such-branch".*\n(Error: .*\n)?\s+at /);
});
