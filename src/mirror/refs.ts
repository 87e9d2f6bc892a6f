// Refs of the mirror: the exclusive `<ref>.lock` file git and every lifeboat writer take to move a branch, the
// conflict raised when the branch moved meanwhile, and the parsing of revisions as a person types them for git.
import fs from 'node:fs';

/** The branch moved between reading its head and updating it (another writer committed). */
export class RefConflictError extends Error {
  override readonly name = 'RefConflictError';
}

/** A lock file older than this was left by a process that died holding it (a ref update takes milliseconds). */
const staleLockMs = 10_000;

/** Creates `lock` exclusively, waiting while another writer holds it; answers its file descriptor. */
export async function exclusiveLock(lock: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      return fs.openSync(lock, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let age: number;
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if (age > staleLockMs) fs.rmSync(lock, { force: true });
    else if (Date.now() - started > 2 * staleLockMs) throw new Error(`${lock} is held by another writer; remove it if no git or lifeboat process is writing`);
    else await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 8));
  }
}

/**
 * A revision as a person types it for git: a base (`HEAD`, `@`, a branch, a tag, a commit id) and the parent steps
 * after it, as the 1-based index of the parent to follow at each step: `~N` is N first-parent steps, `^` one and
 * `^N` the N-th parent. Undefined when there is no base (`~1`) or nothing to read (` `).
 */
export function parseRevision(text: string): { base: string; parents: number[] } | undefined {
  const suffix = /(?:[~^]\d*)*$/.exec(text)![0];
  const base = text.slice(0, text.length - suffix.length);
  if (!base || /\s/.test(base)) return undefined;
  const parents: number[] = [];
  for (const [, operator, digits] of suffix.matchAll(/([~^])(\d*)/g)) {
    const count = digits ? Number(digits) : 1;
    if (count > 100_000) return undefined;
    if (operator === '~') for (let step = 0; step < count; step++) parents.push(1);
    else if (count > 0) parents.push(count); // `^0` is the commit itself
  }
  return { base, parents };
}
