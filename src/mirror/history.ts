// A plan's mirror history (every revision of the plan: what it changed, when it reached the stand-by) and what
// changed between two revisions, Secret values masked: what `lifeboat history`, `lifeboat diff` and the console show.
import { describeRef, mirrorPath, refFromMirrorPath, type UnversionedRef } from '../kube/ref.ts';
import type { StateStore } from '../state/state.ts';
import { walkHistory } from './history-index.ts';
import type { MirrorRepository } from './repository.ts';
import { maskSecretValues, unifiedDiff } from './textdiff.ts';

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
  /** The objects it changed (`created Deployment.apps shop/web`), at most 50. */
  changes: string[];
}

export async function planHistory(repository: MirrorRepository, plan: string, mirrorDir: string, options: { object?: UnversionedRef; appliedAt?: Map<string, string>; appliedHead?: string; limit?: number }): Promise<HistoryEntry[]> {
  // The history index holds what each commit changed: no tree is read or diffed for commits it already knows, and
  // the walk stops at the limit.
  const objectPath = options.object ? mirrorPath(mirrorDir, options.object) : undefined;
  const entries: HistoryEntry[] = [];
  // Newest first: a revision reached the destination when the nearest newer-or-equal applied revision did.
  let nearestApplied: string | undefined;
  let reachedAppliedHead = options.appliedHead === undefined;
  for await (const commit of walkHistory(repository)) {
    if (commit.oid === options.appliedHead) reachedAppliedHead = true;
    if (options.appliedAt?.has(commit.oid)) nearestApplied = options.appliedAt.get(commit.oid);
    if (commit.plan !== plan) continue;
    if (objectPath && !commit.changes.some((change) => change.slice(change.indexOf(' ') + 1) === objectPath)) continue;
    const count = (type: string) => commit.changes.filter((change) => change.startsWith(`${type} `)).length;
    entries.push({
      revision: commit.oid, time: new Date(commit.time * 1000).toISOString(), summary: commit.summary,
      created: count('created'), updated: count('updated'), deleted: count('deleted'),
      applied: !options.appliedAt ? 'unknown' : !reachedAppliedHead ? 'pending' : nearestApplied ?? 'applied',
      planRevision: commit.planRevision,
      changes: commit.changes.slice(0, 50).map(describeChange),
    });
    if (options.limit && entries.length >= options.limit) break;
  }
  return entries;
}

/** `created apps/… shop/web` → `created Deployment.apps shop/web`; a path that is not an object's stays a path. */
function describeChange(change: string): string {
  const space = change.indexOf(' ');
  try {
    return `${change.slice(0, space)} ${describeRef(refFromMirrorPath(change.slice(space + 1)).ref)}`;
  } catch {
    return change;
  }
}

/** When each mirror revision reached the stand-by, and the newest applied one, from the synchronizer's state. */
export async function appliedRevisions(state: Pick<StateStore, 'appliedTimes' | 'getValue'>, plan: string): Promise<{ appliedAt: Map<string, string>; appliedHead: string | undefined }> {
  const appliedAt = new Map([...(await state.appliedTimes(plan))].map(([revision, at]) => [revision, new Date(at).toISOString()]));
  return { appliedAt, appliedHead: await state.getValue(plan, 'applied-head') };
}

export interface RevisionDiff {
  /** The start (undefined: the empty tree, before the first revision). */
  from: string | undefined;
  to: string;
  files: { path: string; change: 'created' | 'updated' | 'deleted'; diff: string }[];
}

/**
 * What changed in the plan's directory from `start` to `end` (revisions as git takes them); without `end`, what
 * `start` changed against its parent. Each file a unified diff with Secret values masked.
 */
export async function revisionDiff(repository: MirrorRepository, mirrorDir: string, start: string, end: string | undefined): Promise<RevisionDiff> {
  const first = await repository.resolve(start);
  let from: string | undefined;
  let to: string;
  if (end) {
    from = first;
    to = await repository.resolve(end);
  } else {
    to = first;
    // Its parent, from the commit itself (not a walk of the whole log).
    from = (await repository.readCommit(first)).parents[0];
  }
  const files: RevisionDiff['files'] = [];
  for (const change of await repository.diff(from, to, mirrorDir)) {
    const before = change.oldOid ? maskSecretValues(await repository.readText(change.oldOid)) : undefined;
    const after = change.newOid ? maskSecretValues(await repository.readText(change.newOid)) : undefined;
    files.push({ path: change.path, change: !before ? 'created' : !after ? 'deleted' : 'updated', diff: unifiedDiff({ path: change.path, before, after }) });
  }
  return { from, to, files };
}
