// The `lifeboat` command: parses the command line, runs the command, and turns errors into one clear line and an
// exit code that says what kind of failure it was (options.ts: ExitCode).
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { PrerequisiteError } from '../sandbox/prerequisites.ts';
import { commandTable, type CommandModule, type CommandName } from './commands.ts';
import { ExitCode, programHelp, UsageError } from './options.ts';

const version = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Commander's own usage errors as one line (its "Did you mean" hint included) that says where to look. */
function oneLineUsageErrors(command: Command, name: string): void {
  command.configureOutput({ outputError: (text, write) => write(`lifeboat: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see \`${name} --help\`)\n`) });
  for (const subcommand of command.commands) oneLineUsageErrors(subcommand, `${name} ${subcommand.name()}`);
}

/** `lifeboat status | head -3`: once the reader has gone, what is left to print has nowhere to go; that is no error. */
function endQuietlyWhenTheReaderLeaves(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(ExitCode.ok);
  });
}

/** Each command module's registration (loaded on demand: a module brings its dependencies with it). */
const modules: Record<CommandModule, () => Promise<(program: Command) => void>> = {
  sandbox: async () => (await import('./sandbox.ts')).registerSandbox,
  run: async () => (await import('./run.ts')).registerRun,
  status: async () => (await import('./status.ts')).registerStatus,
  operator: async () => (await import('./operator.ts')).registerOperator,
  plan: async () => (await import('./plan.ts')).registerPlan,
  cluster: async () => (await import('./cluster.ts')).registerCluster,
  deletes: async () => (await import('./deletes.ts')).registerDeletes,
  recover: async () => {
    const { registerRecover, registerDrill, registerFailback } = await import('./recover.ts');
    return (program) => [registerRecover, registerDrill, registerFailback].forEach((register) => register(program));
  },
  history: async () => (await import('./history.ts')).registerHistory,
  rollback: async () => (await import('./rollback.ts')).registerRollback,
  console: async () => (await import('./console.ts')).registerConsole,
};

const isCommand = (name: string | undefined): name is CommandName => name !== undefined && Object.hasOwn(commandTable, name);

/**
 * The command being run is registered in full (its module loaded); the others, for the program's help and
 * commander's "did you mean", by name and description only. `lifeboat help CMD` loads CMD's module.
 */
async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const first = argv.find((arg) => !arg.startsWith('-'));
  const wanted = first === 'help' ? argv[argv.indexOf('help') + 1] : first;
  const module = isCommand(wanted) ? commandTable[wanted].module : undefined;
  if (module) (await modules[module]())(program);
  for (const [name, entry] of Object.entries(commandTable)) {
    if (entry.module === module) continue;
    const stub = program.command(name).description(entry.description);
    if (entry.usage) stub.usage(`[options] ${entry.usage}`);
  }
  // The table's order, whichever module was loaded.
  const order = Object.keys(commandTable);
  (program.commands as Command[]).sort((a, b) => order.indexOf(a.name()) - order.indexOf(b.name()));
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenTheReaderLeaves();
  const program = new Command('lifeboat')
    .description('Disaster recovery for Kubernetes, the GitOps way: a warm stand-by cluster mirrored through git.')
    .version(version)
    .exitOverride()
    .addHelpText('after', programHelp);
  await registerCommands(program, argv);
  oneLineUsageErrors(program, 'lifeboat');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? ExitCode.ok);
  } catch (error) {
    // --help and --version end in a CommanderError with exit code 0; everything else commander throws is a usage error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`lifeboat: ${message}\n`);
    if (process.env.LIFEBOAT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return error instanceof PrerequisiteError ? ExitCode.prerequisite : error instanceof UsageError ? ExitCode.usage : ExitCode.failed;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
