// `lifeboat rollback PLAN --to REV`, `lifeboat revert PLAN SHA [--force]` and `lifeboat resume PLAN`. Both undo
// operations commit to the mirror (the synchronizer applies the commit like any other) and pause capture of the
// objects they restored, so the next source event does not undo them; `resume` lets the source in again.
import path from 'node:path';
import type { Command } from 'commander';
import { Bus } from '../bus/bus.ts';
import { commitMessage, MirrorRepository } from '../mirror/repository.ts';
import { revertChanges, rollbackChanges, type UndoPlan } from '../recovery/rollback.ts';
import { StateStore } from '../state/state.ts';
import { redisDefault } from './run.ts';

interface UndoOptions {
  mirror: string;
  mirrorPath?: string;
  redis?: string;
  nats?: string;
  force?: boolean;
}

const shared = (command: Command) => command
  .option('--mirror <dir>', 'the mirror repository', '.lifeboat/mirror.git')
  .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (default: the plan name)')
  .option('--redis <url>', 'Redis (default: $LIFEBOAT_REDIS_URL or redis://127.0.0.1:6379)')
  .option('--nats <url>', 'NATS, to tell the synchronizer at once (default: $LIFEBOAT_NATS_URL; optional)');

async function commitUndo(plan: string, options: UndoOptions, undo: UndoPlan, summary: string, trailers: Record<string, string>): Promise<void> {
  const repository = await MirrorRepository.open(path.resolve(options.mirror));
  const state = await StateStore.connect(options.redis ?? redisDefault());
  try {
    // Pause first: a batch the mirror writer commits meanwhile must not carry these objects back.
    await state.pause(plan, undo.changes.map((change) => change.path));
    const result = await repository.commit(undo.changes, (applied) => commitMessage(summary, applied.map((change) => `${change.type} ${change.path}`), { Plan: plan, ...trailers }));
    if (!result) {
      process.stdout.write(`nothing to do: plan ${plan} already has that content\n`);
      return;
    }
    const natsUrl = options.nats ?? process.env.LIFEBOAT_NATS_URL;
    if (natsUrl) {
      const bus = await Bus.connect(natsUrl).catch(() => undefined);
      await bus?.publish('commits', plan, { type: 'mirror.committed', plan, commit: result.oid, observed: {} }, `${plan}:${result.oid}`);
      await bus?.close();
    }
    process.stdout.write(`committed ${result.oid.slice(0, 12)}: ${summary} (${result.changes.length} objects)\n`
      + `capture is paused for these objects until \`lifeboat resume ${plan}\`; source changes to them are not replicated meanwhile\n`);
  } finally {
    await state.close();
  }
}

export function registerRollback(program: Command): void {
  shared(program.command('rollback').argument('<plan>').requiredOption('--to <revision>', 'the mirror revision whose content the plan gets back')
    .description('commit a tree equal to a past revision for one plan; the stand-by follows'))
    .action(async (plan: string, options: UndoOptions & { to: string }) => {
      const repository = await MirrorRepository.open(path.resolve(options.mirror));
      const revision = await repository.resolve(options.to);
      const undo = await rollbackChanges(repository, options.mirrorPath ?? plan, revision);
      if (!undo.changes.length) {
        process.stdout.write(`nothing to do: plan ${plan} is already equal to ${revision.slice(0, 12)}\n`);
        return;
      }
      await commitUndo(plan, options, undo, `rollback(${plan}): to ${revision.slice(0, 12)}`, { 'Rollback-To': revision });
    });

  shared(program.command('revert').argument('<plan>').argument('<commit>')
    .description('undo one mirror commit of a plan (refused when later commits changed the same objects)')
    .option('--force', 'revert even though later commits changed the same objects'))
    .action(async (plan: string, commit: string, options: UndoOptions) => {
      const repository = await MirrorRepository.open(path.resolve(options.mirror));
      const oid = await repository.resolve(commit);
      const undo = await revertChanges(repository, options.mirrorPath ?? plan, oid);
      if (undo.conflicts.length && !options.force) {
        throw new Error(`later commits changed ${undo.conflicts.length} of the objects ${oid.slice(0, 12)} changed (${undo.conflicts.slice(0, 3).join(', ')}${undo.conflicts.length > 3 ? ', …' : ''}); `
          + `reverting would undo those changes too. Roll back to a revision instead, or pass --force`);
      }
      await commitUndo(plan, options, undo, `revert(${plan}): ${oid.slice(0, 12)}`, { Reverts: oid });
    });

  program.command('resume').argument('<plan>').description('let source changes in again for objects a rollback or revert paused')
    .option('--redis <url>', 'Redis (default: $LIFEBOAT_REDIS_URL or redis://127.0.0.1:6379)')
    .action(async (plan: string, options: { redis?: string }) => {
      const state = await StateStore.connect(options.redis ?? redisDefault());
      try {
        const count = await state.resume(plan);
        process.stdout.write(count ? `resumed capture of ${count} objects of plan ${plan}; the next reconcile brings them back in line with the source\n` : `nothing is paused for plan ${plan}\n`);
      } finally {
        await state.close();
      }
    });
}
