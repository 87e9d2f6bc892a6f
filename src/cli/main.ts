// The `lifeboat` command: parses the command line, runs the command, and turns errors into one clear line.
import { Command, CommanderError } from 'commander';
import { PrerequisiteError } from '../sandbox/binaries.ts';
import { registerDeletes } from './deletes.ts';
import { registerHistory } from './history.ts';
import { registerPlan } from './plan.ts';
import { registerDrill, registerRecover } from './recover.ts';
import { registerRollback } from './rollback.ts';
import { registerRun } from './run.ts';
import { registerSandbox } from './sandbox.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('lifeboat')
    .description('Disaster recovery for Kubernetes, the GitOps way: a warm stand-by cluster mirrored through git.')
    .exitOverride()
    .showHelpAfterError();
  registerSandbox(program);
  registerRun(program);
  registerPlan(program);
  registerDeletes(program);
  registerRecover(program);
  registerDrill(program);
  registerHistory(program);
  registerRollback(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`lifeboat: ${message}\n`);
    if (process.env.LIFEBOAT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return error instanceof PrerequisiteError ? 3 : 1;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
