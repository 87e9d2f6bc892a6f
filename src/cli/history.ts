// `lifeboat history PLAN` (like `argocd app history`: every mirror revision of a plan, what it changed, when it
// reached the stand-by) and `lifeboat diff PLAN REV [REV]` (a unified YAML diff, Secret values masked).
import type { Command } from 'commander';
import type { UnversionedRef } from '../kube/ref.ts';
import { appliedRevisions, planHistory, revisionDiff } from '../mirror/history.ts';
import { findPlan, mirrorPathOf, openMirror, optionalState } from './context.ts';
import { formatTable } from './format.ts';
import { sharedOptions, sharedValues, UsageError } from './options.ts';
import { describe } from './commands.ts';

/** `Kind[.group]/namespace/name` or `Kind[.group]/name` (cluster-scoped) → a ref. */
export function parseObjectArgument(value: string): UnversionedRef {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !part)) throw new UsageError(`--object ${value}: expected Kind[.group]/namespace/name or Kind[.group]/name`);
  const [kindGroup, ...rest] = parts as [string, ...string[]];
  const dot = kindGroup.indexOf('.');
  const kind = dot < 0 ? kindGroup : kindGroup.slice(0, dot);
  const group = dot < 0 ? '' : kindGroup.slice(dot + 1);
  return rest.length === 2 ? { group, kind, namespace: rest[0], name: rest[1]! } : { group, kind, name: rest[0]! };
}

/**
 * The revisions `diff` compares: `A B` or git's range `A..B` (an empty side is HEAD, as in git); one revision alone
 * is compared with its parent (`end` undefined).
 */
export function revisionRange(revision: string, revision2: string | undefined): { start: string; end: string | undefined } {
  if (revision.includes('...')) throw new UsageError(`${revision}: A...B (from where they diverge) is not taken; give A..B or A B`);
  const dots = revision.indexOf('..');
  if (dots < 0) return { start: revision, end: revision2 };
  if (revision2 !== undefined) throw new UsageError(`give either a range (${revision}) or two revisions, not both`);
  return { start: revision.slice(0, dots) || 'HEAD', end: revision.slice(dots + 2) || 'HEAD' };
}

export function registerHistory(program: Command): void {
  sharedOptions(program.command('history').argument('<plan>').description(describe('history')))
    .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (default: the plan\'s mirror.path, else its name)')
    .option('--object <ref>', 'only revisions that changed this object: Kind[.group]/namespace/name')
    .option('--limit <n>', 'at most this many revisions', '50')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (plan: string, options: { mirrorPath?: string; object?: string; limit: string; output: string }, command: Command) => {
      const shared = sharedValues(command);
      const object = options.object ? parseObjectArgument(options.object) : undefined;
      const mirrorDir = mirrorPathOf(plan, await findPlan(shared, plan), options.mirrorPath);
      const repository = await openMirror(shared.mirror);
      const state = await optionalState(shared.redis, 'APPLIED shows unknown');
      const applied = state ? await appliedRevisions(state, plan).finally(() => state.close()) : {};
      const entries = await planHistory(repository, plan, mirrorDir, { object, ...applied, limit: Number(options.limit) });
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify({ plan, revisions: entries }, null, 2)}\n`);
        return;
      }
      if (!entries.length) {
        process.stdout.write(`no revisions of plan ${plan}${options.object ? ` changed ${options.object}` : ''} in ${repository.gitdir}\n`);
        return;
      }
      process.stdout.write(formatTable(['REVISION', 'TIME', 'CHANGES', 'APPLIED', 'PLAN REVISION'], entries.map((entry) => [
        entry.revision.slice(0, 12), entry.time, `${entry.created} created, ${entry.updated} updated, ${entry.deleted} deleted`, entry.applied, entry.planRevision?.slice(0, 12) ?? '-',
      ])));
    });

  sharedOptions(program.command('diff').argument('<plan>').argument('<revision>', 'what this revision changed (against its parent); with revision2: the start; A..B: from A to B').argument('[revision2]', 'the end: everything from revision to revision2')
    .description(describe('diff')))
    .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (default: the plan\'s mirror.path, else its name)')
    .addHelpText('after', `
Revisions: a full or short commit id, HEAD, HEAD~N, HEAD^, a branch or a tag (lifeboat history PLAN lists them).
Examples:
  lifeboat diff demo HEAD             what the newest revision of plan demo changed
  lifeboat diff demo 3f2a9c1          what revision 3f2a9c1 changed
  lifeboat diff demo HEAD~3 HEAD      everything from three revisions back to the newest
  lifeboat diff demo HEAD~3..HEAD     the same, as git writes a range`)
    .action(async (plan: string, revision: string, revision2: string | undefined, options: { mirrorPath?: string }, command: Command) => {
      const shared = sharedValues(command);
      const mirrorDir = mirrorPathOf(plan, await findPlan(shared, plan), options.mirrorPath);
      const repository = await openMirror(shared.mirror);
      const range = revisionRange(revision, revision2);
      const { from, to, files } = await revisionDiff(repository, mirrorDir, range.start, range.end);
      for (const file of files) process.stdout.write(file.diff);
      if (!files.length) process.stdout.write(`no changes to plan ${plan} between ${from?.slice(0, 12) ?? 'the empty tree'} and ${to.slice(0, 12)}\n`);
    });
}
