// The `lifeboat` command: parses the command line, runs the command, and turns errors into one clear line and an
// exit code that says what kind of failure it was (options.ts: ExitCode).
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { PrerequisiteError } from '../sandbox/binaries.ts';
import { registerCluster } from './cluster.ts';
import { registerConsole } from './console.ts';
import { registerDeletes } from './deletes.ts';
import { ExitCode, programHelp, UsageError } from './options.ts';
import { registerHistory } from './history.ts';
import { registerOperator } from './operator.ts';
import { registerPlan } from './plan.ts';
import { registerDrill, registerFailback, registerRecover } from './recover.ts';
import { registerRollback } from './rollback.ts';
import { registerRun } from './run.ts';
import { registerSandbox } from './sandbox.ts';

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

export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenTheReaderLeaves();
  const program = new Command('lifeboat')
    .description('Disaster recovery for Kubernetes, the GitOps way: a warm stand-by cluster mirrored through git.')
    .version(version)
    .exitOverride()
    .addHelpText('after', programHelp);
  registerSandbox(program);
  registerRun(program);
  registerOperator(program);
  registerPlan(program);
  registerCluster(program);
  registerDeletes(program);
  registerRecover(program);
  registerDrill(program);
  registerFailback(program);
  registerHistory(program);
  registerRollback(program);
  registerConsole(program);
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
