// The command table main.ts lists without loading any command module says what the modules themselves register:
// the same commands, descriptions and arguments. And `lifeboat --help` loads no command module at all.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { commandTable } from '../../src/cli/commands.ts';

const argumentsOf = (command: Command) => command.registeredArguments.map((arg) => (arg.required ? `<${arg.name()}${arg.variadic ? '...' : ''}>` : `[${arg.name()}${arg.variadic ? '...' : ''}]`)).join(' ');

test('each command module registers exactly the commands of the table, with its descriptions and arguments', async (t) => {
  const registered = new Command('lifeboat');
  const { registerRecover, registerDrill, registerFailback } = await import('../../src/cli/recover.ts');
  for (const register of [
    (await import('../../src/cli/sandbox.ts')).registerSandbox, (await import('../../src/cli/run.ts')).registerRun, (await import('../../src/cli/status.ts')).registerStatus, (await import('../../src/cli/operator.ts')).registerOperator,
    (await import('../../src/cli/plan.ts')).registerPlan, (await import('../../src/cli/cluster.ts')).registerCluster, (await import('../../src/cli/deletes.ts')).registerDeletes,
    registerRecover, registerDrill, registerFailback, (await import('../../src/cli/history.ts')).registerHistory, (await import('../../src/cli/rollback.ts')).registerRollback,
    (await import('../../src/cli/console.ts')).registerConsole,
  ]) register(registered);
  t.deepEqual(registered.commands.map((command) => command.name()).sort(), Object.keys(commandTable).sort());
  for (const command of registered.commands) {
    const entry = commandTable[command.name() as keyof typeof commandTable];
    t.is(command.description(), entry.description, command.name());
    t.is(argumentsOf(command), entry.usage, command.name());
  }
});

test('lifeboat --help loads no command module (only the table): none of the clients, servers or git', async (t) => {
  // Every module the process resolves, recorded by a resolve hook in the process that prints the help.
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const found = next(specifier, context); seen.push(found.url); return found; } });
    const { main } = await import(${JSON.stringify(new URL('../../src/cli/main.ts', import.meta.url).href)});
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    await main(['--help']);
    process.stdout.write = write;
    console.log(JSON.stringify(seen));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  const seen = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
  t.true(seen.some((url) => url.endsWith('/src/cli/commands.ts')), 'the hook sees the modules');
  for (const heavy of ['@kubernetes/client-node', 'ioredis', 'isomorphic-git', '@nats-io', '/src/cli/run.ts', '/src/cli/recover.ts', '/src/runtime/']) {
    t.false(seen.some((url) => url.includes(heavy)), `${heavy} is not loaded for --help`);
  }
});
