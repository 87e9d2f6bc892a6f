// `lifeboat rollback PLAN --to REV`, `lifeboat revert PLAN SHA [--force]` and `lifeboat resume PLAN`. Both undo
// operations commit to the mirror (the synchronizer applies the commit like any other) and pause capture of the
// objects they restored, so the next source event does not undo them; `resume` lets the source in again.
import type { Command } from 'commander';
import { commitMessage, type MirrorRepository } from '../mirror/repository.ts';
import { revertChanges, rollbackChanges, type UndoPlan } from '../recovery/rollback.ts';
import { connectState, findPlan, mirrorPathOf, openMirror, optionalBus } from './context.ts';
import { sharedOptions, sharedValues, type SharedValues } from './options.ts';
import { describe } from './commands.ts';

interface UndoOptions {
  mirrorPath?: string;
  force?: boolean;
}

/** The shared options and --mirror-path, which rollback and revert both take. */
const undoOptions = (command: Command) => sharedOptions(command)
  .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (default: the plan\'s mirror.path, else its name)');

/** The plan's mirror directory and the mirror, which must exist: an undo is a commit on top of its history. */
async function undoTarget(plan: string, shared: SharedValues, options: UndoOptions): Promise<{ mirrorDir: string; repository: MirrorRepository }> {
  const mirrorDir = mirrorPathOf(plan, await findPlan(shared, plan), options.mirrorPath);
  return { mirrorDir, repository: await openMirror(shared.mirror) };
}

async function commitUndo(plan: string, shared: SharedValues, repository: MirrorRepository, undo: UndoPlan, summary: string, trailers: Record<string, string>): Promise<void> {
  const state = await connectState(shared.redis);
  try {
    // Pause first: a batch the mirror writer commits meanwhile must not carry these objects back.
    await state.pause(plan, undo.changes.map((change) => change.path));
    const result = await repository.commit(undo.changes, (applied) => commitMessage(summary, applied.map((change) => `${change.type} ${change.path}`), { Plan: plan, ...trailers }));
    if (!result) {
      process.stdout.write(`nothing to do: plan ${plan} already has that content\n`);
      return;
    }
    const bus = await optionalBus(shared.nats, `a running lifeboat is not told of ${result.oid.slice(0, 12)} at once`);
    if (bus) {
      try {
        await bus.publish('commits', plan, { type: 'mirror.committed', plan, commit: result.oid, observed: {} }, `${plan}:${result.oid}`);
      } finally {
        await bus.close();
      }
    }
    process.stdout.write(`committed ${result.oid.slice(0, 12)}: ${summary} (${result.changes.length} objects)\n`
      + `capture is paused for these objects until \`lifeboat resume ${plan}\`; source changes to them are not replicated meanwhile\n`);
  } finally {
    await state.close();
  }
}

export function registerRollback(program: Command): void {
  undoOptions(program.command('rollback').argument('<plan>').requiredOption('--to <revision>', 'the mirror revision whose content the plan gets back (commit id, HEAD~N, branch or tag)')
    .description(describe('rollback')))
    .action(async (plan: string, options: UndoOptions & { to: string }, command: Command) => {
      const shared = sharedValues(command);
      const { mirrorDir, repository } = await undoTarget(plan, shared, options);
      const revision = await repository.resolve(options.to);
      const undo = await rollbackChanges(repository, mirrorDir, revision);
      if (!undo.changes.length) {
        process.stdout.write(`nothing to do: plan ${plan} is already equal to ${revision.slice(0, 12)}\n`);
        return;
      }
      await commitUndo(plan, shared, repository, undo, `rollback(${plan}): to ${revision.slice(0, 12)}`, { 'Rollback-To': revision });
    });

  undoOptions(program.command('revert').argument('<plan>').argument('<commit>', 'the mirror commit to undo (commit id, HEAD~N, branch or tag)')
    .description(describe('revert'))
    .option('--force', 'revert even though later commits changed the same objects'))
    .action(async (plan: string, commit: string, options: UndoOptions, command: Command) => {
      const shared = sharedValues(command);
      const { mirrorDir, repository } = await undoTarget(plan, shared, options);
      const oid = await repository.resolve(commit);
      const undo = await revertChanges(repository, mirrorDir, oid);
      if (undo.conflicts.length && !options.force) {
        throw new Error(`later commits changed ${undo.conflicts.length} of the objects ${oid.slice(0, 12)} changed (${undo.conflicts.slice(0, 3).join(', ')}${undo.conflicts.length > 3 ? ', …' : ''}); `
          + `reverting would undo those changes too. Roll back to a revision instead, or pass --force`);
      }
      await commitUndo(plan, shared, repository, undo, `revert(${plan}): ${oid.slice(0, 12)}`, { Reverts: oid });
    });

  sharedOptions(program.command('resume').argument('<plan>').description(describe('resume')))
    .action(async (plan: string, _options: unknown, command: Command) => {
      const shared = sharedValues(command);
      await findPlan(shared, plan);
      const state = await connectState(shared.redis);
      try {
        const count = await state.resume(plan);
        process.stdout.write(count ? `resumed capture of ${count} objects of plan ${plan}; the next reconcile brings them back in line with the source\n` : `nothing is paused for plan ${plan}\n`);
      } finally {
        await state.close();
      }
    });
}
