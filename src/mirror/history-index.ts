// The mirror's history index: one JSON line per commit (its parent, time, plan, plan revision, summary and the paths
// it changed), appended as each commit is written, in the git directory beside the objects (`lifeboat-history.jsonl`;
// git ignores it). `lifeboat history PLAN --object REF` and the console's timeline read it instead of walking every
// commit and diffing every tree: over 10,000 commits that is one file read instead of minutes.
//
// It is a cache of what git holds, never the truth: the history is always the first-parent chain from the branch
// head, and a commit the index lacks (written by another tool, fetched from the remote, or an index deleted) is read
// from git, diffed, and appended the first time it is needed. A partly written last line is skipped.
import fs from 'node:fs';
import path from 'node:path';
import { parseTrailers } from './commit-message.ts';
import type { MirrorRepository, PathChange } from './repository.ts';

export interface IndexedCommit {
  oid: string;
  parent: string | undefined;
  /** Committer time, Unix seconds. */
  time: number;
  plan: string | undefined;
  planRevision: string | undefined;
  summary: string;
  /** `created|updated|deleted PATH`, one per changed file. */
  changes: string[];
}

interface Line {
  o: string;
  p?: string;
  t: number;
  n?: string;
  r?: string;
  s: string;
  c: string[];
}

export const historyIndexName = 'lifeboat-history.jsonl';

/** The index entry of a commit from its message and the paths it changed. */
export function indexedCommit(oid: string, parent: string | undefined, time: number, message: string, changed: readonly Pick<PathChange, 'type' | 'path'>[]): IndexedCommit {
  const trailers = parseTrailers(message);
  return {
    oid, parent, time, plan: trailers.Plan, planRevision: trailers['Plan-Revision'], summary: message.split('\n')[0] ?? '',
    changes: changed.map((change) => `${change.type} ${change.path}`),
  };
}

function lineOf(commit: IndexedCommit): string {
  const line: Line = { o: commit.oid, t: commit.time, s: commit.summary, c: commit.changes };
  if (commit.parent) line.p = commit.parent;
  if (commit.plan) line.n = commit.plan;
  if (commit.planRevision) line.r = commit.planRevision;
  return `${JSON.stringify(line)}\n`;
}

/** Appends entries to the index (one write: O_APPEND keeps concurrent writers' lines whole). */
export function appendToIndex(gitdir: string, commits: readonly IndexedCommit[]): void {
  if (!commits.length) return;
  fs.appendFileSync(path.join(gitdir, historyIndexName), commits.map(lineOf).join(''));
}

/**
 * What this process read of each repository's index, and how far into the file. Lines are kept as text and parsed
 * when the walk reaches them: `lifeboat history` (the latest 50 of 10,000 commits) parses 50 lines, not 10,000.
 */
const cache = new WeakMap<MirrorRepository, { size: number; byOid: Map<string, string | IndexedCommit> }>();

/** `{"o":"<oid>",…`: every line starts with its commit id (lineOf writes it first). */
const lineStart = '{"o":"';

function decode(raw: string): IndexedCommit | undefined {
  try {
    const line = JSON.parse(raw) as Line;
    return { oid: line.o, parent: line.p, time: line.t, plan: line.n, planRevision: line.r, summary: line.s, changes: line.c };
  } catch {
    return undefined; // a damaged line: that commit is read from git again
  }
}

function readIndex(repository: MirrorRepository): Map<string, string | IndexedCommit> {
  const file = path.join(repository.gitdir, historyIndexName);
  const known = cache.get(repository) ?? { size: 0, byOid: new Map<string, string | IndexedCommit>() };
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return known.byOid;
  }
  if (size < known.size) {
    known.size = 0;
    known.byOid.clear();
  }
  if (size > known.size) {
    const fd = fs.openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(size - known.size);
      fs.readSync(fd, buffer, 0, buffer.length, known.size);
      const text = buffer.toString('utf8');
      // Only whole lines: a line being appended right now is read the next time.
      const end = text.lastIndexOf('\n') + 1;
      for (const raw of text.slice(0, end).split('\n')) {
        if (raw.startsWith(lineStart)) known.byOid.set(raw.slice(lineStart.length, lineStart.length + 40), raw);
      }
      known.size += Buffer.byteLength(text.slice(0, end));
    } finally {
      fs.closeSync(fd);
    }
  }
  cache.set(repository, known);
  return known.byOid;
}

/**
 * The branch's history, newest first (first parents from the head), each commit with what it changed; lazily, so a
 * caller that needs the newest few stops the walk there. Commits missing from the index are read from git as the walk
 * reaches them and appended when it ends (or is stopped).
 */
export async function* walkHistory(repository: MirrorRepository): AsyncGenerator<IndexedCommit> {
  const byOid = readIndex(repository);
  const missing: IndexedCommit[] = [];
  try {
    let oid = await repository.head();
    while (oid) {
      const known = byOid.get(oid);
      let commit = typeof known === 'string' ? decode(known) : known;
      if (commit?.oid !== oid) {
        const read = await repository.readCommit(oid);
        const changed = await repository.diff(read.parents[0], oid);
        commit = indexedCommit(oid, read.parents[0], read.timestamp, read.message, changed);
        missing.push(commit);
      }
      byOid.set(oid, commit);
      yield commit;
      oid = commit.parent;
    }
  } finally {
    // Oldest first, as they would have been appended.
    appendToIndex(repository.gitdir, missing.reverse());
    const entry = cache.get(repository);
    if (entry && missing.length) entry.size = fs.statSync(path.join(repository.gitdir, historyIndexName)).size;
  }
}

/** The whole history, newest first (walkHistory to the root). */
export async function indexedHistory(repository: MirrorRepository): Promise<IndexedCommit[]> {
  const history: IndexedCommit[] = [];
  for await (const commit of walkHistory(repository)) history.push(commit);
  return history;
}
