// `lifeboat history PLAN` (like `argocd app history`: every mirror revision of a plan, what it changed, when it
// reached the stand-by) and `lifeboat diff PLAN REV [REV]` (a unified YAML diff, Secret values masked).
import path from 'node:path';
import type { Command } from 'commander';
import { mirrorPath, type UnversionedRef } from '../kube/ref.ts';
import { MirrorRepository, parseTrailers } from '../mirror/repository.ts';
import { maskSecretValues, unifiedDiff } from '../mirror/textdiff.ts';
import { StateStore } from '../state/state.ts';
import { formatTable } from './format.ts';

export interface HistoryEntry {
  revision: string;
  time: string;
  summary: string;
  created: number;
  updated: number;
  deleted: number;
  /** When the revision reached the destination (the first applied revision at or after it), or pending. */
  applied: string | 'pending' | 'unknown';
  planRevision: string | undefined;
}

/** `Kind[.group]/namespace/name` or `Kind[.group]/name` (cluster-scoped) → a ref. */
export function parseObjectArgument(value: string): UnversionedRef {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !part)) throw new Error(`--object ${value}: expected Kind[.group]/namespace/name or Kind[.group]/name`);
  const [kindGroup, ...rest] = parts as [string, ...string[]];
  const dot = kindGroup.indexOf('.');
  const kind = dot < 0 ? kindGroup : kindGroup.slice(0, dot);
  const group = dot < 0 ? '' : kindGroup.slice(dot + 1);
  return rest.length === 2 ? { group, kind, namespace: rest[0], name: rest[1]! } : { group, kind, name: rest[0]! };
}

export async function planHistory(repository: MirrorRepository, plan: string, mirrorDir: string, options: { object?: UnversionedRef; appliedAt?: Map<string, string>; appliedHead?: string; limit?: number }): Promise<HistoryEntry[]> {
  const log = await repository.log();
  const objectPath = options.object ? mirrorPath(mirrorDir, options.object) : undefined;
  const entries: HistoryEntry[] = [];
  // Newest first: a revision reached the destination when the nearest newer-or-equal applied revision did.
  let nearestApplied: string | undefined;
  let reachedAppliedHead = options.appliedHead === undefined;
  for (const commit of log) {
    if (commit.oid === options.appliedHead) reachedAppliedHead = true;
    if (options.appliedAt?.has(commit.oid)) nearestApplied = options.appliedAt.get(commit.oid);
    const trailers = parseTrailers(commit.message);
    if (trailers.Plan !== plan) continue;
    if (objectPath && (await repository.oidAt(commit.oid, objectPath)) === (commit.parents[0] ? await repository.oidAt(commit.parents[0], objectPath) : undefined)) continue;
    const lines = commit.message.split('\n');
    const count = (type: string) => lines.filter((line) => line.startsWith(`${type} `)).length;
    entries.push({
      revision: commit.oid, time: new Date(commit.timestamp * 1000).toISOString(), summary: lines[0] ?? '',
      created: count('created'), updated: count('updated'), deleted: count('deleted'),
      applied: !options.appliedAt ? 'unknown' : !reachedAppliedHead ? 'pending' : nearestApplied ?? 'applied',
      planRevision: trailers['Plan-Revision'],
    });
    if (options.limit && entries.length >= options.limit) break;
  }
  return entries;
}

export function registerHistory(program: Command): void {
  program.command('history').argument('<plan>').description('every mirror revision of a plan: what it changed and when it reached the stand-by')
    .option('--mirror <dir>', 'the mirror repository', '.lifeboat/mirror.git')
    .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (mirror.path; default: the plan name)')
    .option('--object <ref>', 'only revisions that changed this object: Kind[.group]/namespace/name')
    .option('--redis <url>', 'Redis, for when each revision was applied (default: $LIFEBOAT_REDIS_URL; optional)')
    .option('--limit <n>', 'at most this many revisions', '50')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (plan: string, options: { mirror: string; mirrorPath?: string; object?: string; redis?: string; limit: string; output: string }) => {
      const repository = await MirrorRepository.open(path.resolve(options.mirror));
      let appliedAt: Map<string, string> | undefined;
      let appliedHead: string | undefined;
      const redisUrl = options.redis ?? process.env.LIFEBOAT_REDIS_URL;
      if (redisUrl) {
        const state = await StateStore.connect(redisUrl).catch(() => undefined);
        if (state) {
          const scored = await state.redis.zrange(state.key(plan, 'applied-at'), '0', '-1', 'WITHSCORES');
          appliedAt = new Map();
          for (let index = 0; index < scored.length; index += 2) appliedAt.set(scored[index]!, new Date(Number(scored[index + 1])).toISOString());
          appliedHead = await state.getValue(plan, 'applied-head');
          await state.close();
        }
      }
      const object = options.object ? parseObjectArgument(options.object) : undefined;
      const entries = await planHistory(repository, plan, options.mirrorPath ?? plan, { object, appliedAt, appliedHead, limit: Number(options.limit) });
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

  program.command('diff').argument('<plan>').argument('<revision>').argument('[revision2]')
    .description('what changed in a plan\'s mirror files: one revision against its parent, or REV..REV2 (Secret values masked)')
    .option('--mirror <dir>', 'the mirror repository', '.lifeboat/mirror.git')
    .option('--mirror-path <dir>', 'the plan\'s directory in the mirror (default: the plan name)')
    .action(async (plan: string, revision: string, revision2: string | undefined, options: { mirror: string; mirrorPath?: string }) => {
      const repository = await MirrorRepository.open(path.resolve(options.mirror));
      const first = await repository.resolve(revision);
      let from: string | undefined;
      let to: string;
      if (revision2) {
        from = first;
        to = await repository.resolve(revision2);
      } else {
        to = first;
        from = (await repository.log()).find((commit) => commit.oid === first)?.parents[0];
      }
      const changes = await repository.diff(from, to, options.mirrorPath ?? plan);
      for (const change of changes) {
        const before = change.oldOid ? maskSecretValues(await repository.readText(change.oldOid)) : undefined;
        const after = change.newOid ? maskSecretValues(await repository.readText(change.newOid)) : undefined;
        process.stdout.write(unifiedDiff({ path: change.path, before, after }));
      }
      if (!changes.length) process.stdout.write(`no changes to plan ${plan} between ${from?.slice(0, 12) ?? 'the empty tree'} and ${to.slice(0, 12)}\n`);
    });
}
