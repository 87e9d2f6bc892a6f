// Rollback and revert of a plan's mirror, as new commits on top of the branch (history is never rewritten: the
// audit log keeps the mistake and its undoing). Rollback makes the plan's tree equal to a revision; revert undoes
// one commit and refuses when later commits changed the same objects (unless forced).
import type { FileChange, MirrorRepository } from '../mirror/repository.ts';

export interface UndoPlan {
  changes: FileChange[];
  /** Paths a later commit changed too (revert only): undoing them would also undo that later change. */
  conflicts: string[];
}

/** The changes that make `mirrorDir` at the branch head equal to `mirrorDir` at `revision`. */
export async function rollbackChanges(repository: MirrorRepository, mirrorDir: string, revision: string): Promise<UndoPlan> {
  const head = await repository.head();
  if (!head) throw new Error('the mirror has no commits');
  const changes: FileChange[] = [];
  for (const change of await repository.diff(revision, head, mirrorDir)) {
    changes.push({ path: change.path, content: change.oldOid ? await repository.readText(change.oldOid) : null });
  }
  return { changes, conflicts: [] };
}

/** The changes that undo commit `commit` for `mirrorDir`, and the paths later commits changed as well. */
export async function revertChanges(repository: MirrorRepository, mirrorDir: string, commit: string): Promise<UndoPlan> {
  const log = await repository.log();
  const index = log.findIndex((entry) => entry.oid === commit);
  if (index < 0) throw new Error(`${commit.slice(0, 12)} is not on the mirror branch ${repository.branch}`);
  const entry = log[index]!;
  if (entry.parents.length > 1) throw new Error(`${commit.slice(0, 12)} is a merge; roll back to a revision instead`);
  const undone = await repository.diff(entry.parents[0], commit, mirrorDir);
  if (!undone.length) throw new Error(`${commit.slice(0, 12)} changed nothing in ${mirrorDir}/`);
  const head = log[0]!.oid;
  const later = new Set(head === commit ? [] : (await repository.diff(commit, head, mirrorDir)).map((change) => change.path));
  const changes: FileChange[] = [];
  for (const change of undone) changes.push({ path: change.path, content: change.oldOid ? await repository.readText(change.oldOid) : null });
  return { changes, conflicts: undone.map((change) => change.path).filter((path) => later.has(path)) };
}
