// The git mirror: a bare repository whose branch holds the normalized manifests of every plan, one commit per
// batch. Commits are built directly from trees (no index, no work tree) and rewrite only the directories on the
// changed paths, so a commit costs O(changes), not O(objects). A commit that changes nothing is never made.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { decodeTree, emptyTreeOid, encodeTree, makeDirectory, ObjectCache, type ObjectBatch, ObjectWriter, type StoredObject, type TreeEntry } from './objects.ts';
import { appendToIndex, indexedCommit } from './history-index.ts';
import { exclusiveLock, parseRevision, RefConflictError } from './refs.ts';
import { isoGit } from '../util/git.ts';

export { commitMessage, parseTrailers } from './commit-message.ts';

export { parseRevision, RefConflictError } from './refs.ts';

export interface FileChange {
  path: string;
  /** New content, or null to delete the file. */
  content: string | null;
}

export type ChangeType = 'created' | 'updated' | 'deleted';

export interface PathChange {
  path: string;
  type: ChangeType;
  oldOid: string | undefined;
  newOid: string | undefined;
}

export interface CommitResult {
  oid: string;
  changes: PathChange[];
}

export interface Author {
  name: string;
  email: string;
}

/** A name or e-mail address as a commit header can hold it. */
const identity = (text: string) => text.replace(/[<>\n]/g, '').trim();

const defaultAuthor: Author = { name: 'lifeboat', email: 'lifeboat@localhost' };
export class MirrorRepository {
  readonly gitdir: string;
  readonly branch: string;
  private readonly cache: object = {};
  /** Objects are immutable by id: recently written or read ones are kept (bounded by bytes). */
  private readonly objects = new ObjectCache(16 * 1024 * 1024);
  private readonly trees = new Map<string, TreeEntry[]>();
  private readonly writer: ObjectWriter;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(gitdir: string, branch: string) {
    this.gitdir = gitdir;
    this.branch = branch;
    this.writer = new ObjectWriter(gitdir);
  }

  /** Opens (creating when missing) a bare mirror repository. */
  static async open(gitdir: string, options: { branch?: string } = {}): Promise<MirrorRepository> {
    const branch = options.branch ?? 'main';
    if (!fs.existsSync(path.join(gitdir, 'HEAD'))) {
      fs.mkdirSync(gitdir, { recursive: true });
      await (await isoGit()).init({ fs, gitdir, bare: true, defaultBranch: branch });
    }
    return new MirrorRepository(gitdir, branch);
  }

  get ref(): string {
    return `refs/heads/${this.branch}`;
  }

  /**
   * The branch's commit. Read synchronously, as git does (the loose ref, else packed-refs): two small reads, and no
   * trip through the thread pool and a busy event loop, where an initial sync once made this take seconds.
   */
  async head(): Promise<string | undefined> {
    try {
      return fs.readFileSync(path.join(this.gitdir, this.ref), 'latin1').trim() || undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let packed: string;
    try {
      packed = fs.readFileSync(path.join(this.gitdir, 'packed-refs'), 'latin1');
    } catch {
      return undefined;
    }
    for (const line of packed.split('\n')) {
      const [oid, name] = line.split(' ');
      if (name === this.ref && oid && /^[0-9a-f]{40}$/.test(oid)) return oid;
    }
    return undefined;
  }

  /**
   * Resolves a revision as git reads it (see `parseRevision`) to a commit id: HEAD (the mirror branch), a branch, a
   * tag (annotated ones peeled) or a full or abbreviated commit id, then `~N` / `^N` steps along the parents.
   */
  async resolve(revision: string): Promise<string> {
    const unknown = (why = '') => new Error(`unknown revision "${revision}" in ${this.gitdir}${why}`);
    const parsed = parseRevision(revision);
    if (!parsed) throw unknown();
    let oid = await this.resolveBase(parsed.base);
    if (!oid) throw unknown();
    oid = await this.peelToCommit(oid, () => unknown());
    for (const parent of parsed.parents) {
      const { commit } = await (await isoGit()).readCommit({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      const next = commit.parent[parent - 1];
      if (!next) throw unknown(`: commit ${oid.slice(0, 12)} has ${commit.parent.length ? `only ${commit.parent.length} parent(s)` : 'no parent'}`);
      oid = next;
    }
    return oid;
  }

  /** The object a revision's base names, or undefined. A ref wins over a commit id prefix of the same spelling, as in git. */
  private async resolveBase(base: string): Promise<string | undefined> {
    if (base === 'HEAD' || base === '@') return (await this.head()) ?? (await (await isoGit()).resolveRef({ fs, gitdir: this.gitdir, ref: 'HEAD' }).catch(() => undefined));
    const hex = /^[0-9a-f]{4,40}$/i.test(base);
    // resolveRef returns any 40-digit hex string as it is, existing or not: those go to expandOid, which checks.
    if (!(hex && base.length === 40)) {
      const ref = await (await isoGit()).resolveRef({ fs, gitdir: this.gitdir, ref: base }).catch(() => undefined);
      if (ref) return ref;
    }
    if (!hex) return undefined;
    try {
      return await (await isoGit()).expandOid({ fs, gitdir: this.gitdir, oid: base.toLowerCase(), cache: this.cache });
    } catch (error) {
      if ((error as { code?: string }).code === 'AmbiguousError') throw new Error(`revision "${base}" is ambiguous in ${this.gitdir}: give more digits of the commit id`, { cause: error });
      return undefined;
    }
  }

  /** The commit an object id leads to: itself, or what an annotated tag points at. */
  private async peelToCommit(oid: string, unknown: () => Error): Promise<string> {
    for (let depth = 0; depth < 16; depth++) {
      let object;
      try {
        object = await (await isoGit()).readObject({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      } catch {
        throw unknown();
      }
      if (object.type === 'commit') return oid;
      if (object.type !== 'tag') throw new Error(`${oid.slice(0, 12)} in ${this.gitdir} is a ${object.type}, not a commit`);
      oid = (object.object as { object: string }).object;
    }
    throw unknown();
  }

  /**
   * Applies `changes` on top of the branch head and commits them with `message` (or the message built from what
   * really changed). Returns undefined when the tree
   * does not change (no empty commits). Calls are serialised; the branch ref moves only if it still points at the
   * parent this commit was built on.
   */
  commit(changes: FileChange[], message: string | ((applied: PathChange[]) => string), author: Author = defaultAuthor): Promise<CommitResult | undefined> {
    const run = this.queue.then(() => this.commitRetrying(changes, message, author));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Another writer moved the branch between our read and our ref update: the commit is rebuilt on its head. */
  private async commitRetrying(changes: FileChange[], message: string | ((applied: PathChange[]) => string), author: Author): Promise<CommitResult | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitNow(changes, message, author);
      } catch (error) {
        if (!(error instanceof RefConflictError) || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * Math.min(attempt, 10)));
      }
    }
  }

  private async commitNow(changes: FileChange[], messageOf: string | ((applied: PathChange[]) => string), author: Author): Promise<CommitResult | undefined> {
    const parent = await this.head();
    const parentTree = parent ? await this.treeOf(parent) : undefined;
    const blobs = new Map<string, string | null>();
    const batch: ObjectBatch = new Map();
    for (const change of changes) {
      validatePath(change.path);
      blobs.set(change.path, change.content === null ? null : this.hashObject('blob', Buffer.from(change.content), batch));
    }
    const applied: PathChange[] = [];
    const tree = await this.rewriteTree('', parentTree, [...blobs.entries()].map(([file, oid]) => ({ path: file, oid })), applied, batch);
    const emptyTree = emptyTreeOid;
    if ((tree ?? emptyTree) === (parentTree ?? emptyTree) || applied.length === 0) return undefined;
    if (tree === undefined) this.hashObject('tree', Buffer.alloc(0), batch); // every file deleted: the empty tree
    applied.sort((a, b) => a.path.localeCompare(b.path));
    const message = typeof messageOf === 'string' ? messageOf : messageOf(applied);
    const now = Math.floor(Date.now() / 1000);
    const signature = `${identity(author.name)} <${identity(author.email)}> ${now} +0000`;
    const body = `tree ${tree ?? emptyTree}\n${parent ? `parent ${parent}\n` : ''}author ${signature}\ncommitter ${signature}\n\n${message.endsWith('\n') ? message : `${message}\n`}`;
    const oid = this.hashObject('commit', Buffer.from(body), batch);
    this.writer.store(batch);
    await this.updateRef(oid, parent);
    appendToIndex(this.gitdir, [indexedCommit(oid, parent, now, message, applied)]);
    return { oid, changes: applied };
  }

  /** Rewrites only the subtrees on the changed paths; returns the new tree oid, or undefined when it is empty. */
  private async rewriteTree(prefix: string, treeOid: string | undefined, changes: { path: string; oid: string | null }[], applied: PathChange[], batch: ObjectBatch): Promise<string | undefined> {
    const entries = new Map<string, TreeEntry>();
    if (treeOid) for (const entry of await this.readTree(treeOid)) entries.set(entry.path, entry);
    const byChild = new Map<string, { path: string; oid: string | null }[]>();
    for (const change of changes) {
      const relative = change.path.slice(prefix.length);
      const slash = relative.indexOf('/');
      if (slash < 0) {
        const existing = entries.get(relative);
        if (change.oid === null) {
          if (existing?.type === 'blob') {
            entries.delete(relative);
            applied.push({ path: change.path, type: 'deleted', oldOid: existing.oid, newOid: undefined });
          }
        } else if (existing?.oid !== change.oid) {
          entries.set(relative, { mode: '100644', path: relative, oid: change.oid, type: 'blob' });
          applied.push({ path: change.path, type: existing ? 'updated' : 'created', oldOid: existing?.oid, newOid: change.oid });
        }
      } else {
        const child = relative.slice(0, slash);
        byChild.set(child, [...(byChild.get(child) ?? []), change]);
      }
    }
    for (const [child, childChanges] of byChild) {
      const existing = entries.get(child);
      const oid = await this.rewriteTree(`${prefix}${child}/`, existing?.type === 'tree' ? existing.oid : undefined, childChanges, applied, batch);
      if (oid === undefined) entries.delete(child);
      else entries.set(child, { mode: '040000', path: child, oid, type: 'tree' });
    }
    if (entries.size === 0) return undefined;
    return this.hashObject('tree', encodeTree([...entries.values()]), batch);
  }

  /** The id of an object, which joins the batch to be stored (and the cache, for the reads that follow). */
  private hashObject(type: 'blob' | 'tree' | 'commit', content: Buffer, batch: ObjectBatch): string {
    const oid = createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex');
    this.objects.set(oid, { type, content });
    batch.set(oid, { type, content });
    return oid;
  }

  /**
   * Moves the branch from `expected` to `oid` the way git does, so concurrent writers never lose a commit: the lock
   * is `<ref>.lock` created exclusively (O_EXCL) — the lock git itself, another lifeboat process (one per plan on a
   * shared mirror) and `lifeboat rollback` all take; the branch is compared with `expected` under the lock, and the
   * lock file, holding the new value, is renamed into place. A held lock is waited for (a ref update takes
   * milliseconds); one older than `staleLockMs` was left by a killed process and is removed. A branch that moved
   * meanwhile is a conflict: nothing is written and the caller rebuilds its commit on the new head.
   */
  private async updateRef(oid: string, expected: string | undefined): Promise<void> {
    const file = path.join(this.gitdir, this.ref);
    const lock = `${file}.lock`;
    makeDirectory(path.dirname(file));
    const fd = await exclusiveLock(lock);
    let renamed = false;
    try {
      const current = await this.head();
      if (current !== expected) throw new RefConflictError(`mirror branch ${this.branch} moved while committing (now ${current?.slice(0, 12) ?? 'absent'}); retry the batch`);
      fs.writeSync(fd, `${oid}\n`);
      fs.closeSync(fd);
      fs.renameSync(lock, file);
      renamed = true;
    } finally {
      if (!renamed) {
        try {
          fs.closeSync(fd);
        } catch {
          /* already closed */
        }
        fs.rmSync(lock, { force: true });
      }
    }
  }

  /**
   * Reads an object: from the in-memory cache (objects this process wrote or read recently), else a loose object
   * inflated with native zlib, else through isomorphic-git (packed objects, e.g. after a clone or `git gc`).
   */
  private async readObject(oid: string): Promise<StoredObject> {
    const cached = this.objects.get(oid);
    if (cached) return cached;
    let object: StoredObject;
    try {
      // Synchronous, like the writes: one small read, not a trip through the thread pool behind a busy event loop.
      const raw = inflateSync(fs.readFileSync(path.join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))));
      const space = raw.indexOf(0x20);
      const nul = raw.indexOf(0);
      object = { type: raw.subarray(0, space).toString('latin1'), content: raw.subarray(nul + 1) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const read = await (await isoGit()).readObject({ fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
      object = { type: read.type, content: Buffer.from(read.object as Uint8Array) };
    }
    this.objects.set(oid, object);
    return object;
  }

  private async readTree(oid: string): Promise<TreeEntry[]> {
    const cached = this.trees.get(oid);
    if (cached) return cached;
    const object = await this.readObject(oid);
    if (object.type !== 'tree') throw new Error(`${oid} is a ${object.type}, not a tree`);
    const entries = decodeTree(object.content);
    if (this.trees.size >= 4096) this.trees.delete(this.trees.keys().next().value!);
    this.trees.set(oid, entries);
    return entries;
  }

  /** The root tree of a commit. */
  private async treeOf(commit: string): Promise<string> {
    const object = await this.readObject(commit);
    if (object.type === 'tree') return commit;
    if (object.type !== 'commit') throw new Error(`${commit} is a ${object.type}, not a commit`);
    const match = /^tree ([0-9a-f]{40})/.exec(object.content.toString('latin1', 0, 46));
    if (!match?.[1]) throw new Error(`commit ${commit} has no tree`);
    return match[1];
  }

  /** The tree oid at `dir` ('' for the root) of `commit`, or undefined when there is no such directory. */
  private async subtree(commit: string, dir: string): Promise<string | undefined> {
    let oid: string | undefined = await this.treeOf(commit);
    for (const part of dir.split('/').filter(Boolean)) {
      const entry: TreeEntry | undefined = (await this.readTree(oid)).find((candidate) => candidate.path === part);
      if (entry?.type !== 'tree') return undefined;
      oid = entry.oid;
    }
    return oid;
  }

  /** The blob oid of one file at `commit`, or undefined when it is not there. Reads only the trees on its path. */
  async oidAt(commit: string, file: string): Promise<string | undefined> {
    const slash = file.lastIndexOf('/');
    const tree = await this.subtree(commit, slash > 0 ? file.slice(0, slash) : '');
    if (!tree) return undefined;
    const entry = (await this.readTree(tree)).find((candidate) => candidate.path === file.slice(slash + 1));
    return entry?.type === 'blob' ? entry.oid : undefined;
  }

  /** Every file under `prefix` at `commit`: path → blob oid. */
  async files(commit: string | undefined, prefix = ''): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    if (!commit) return files;
    const dir = prefix.replace(/\/+$/, '');
    const root = await this.subtree(commit, dir);
    const walk = async (tree: string, base: string): Promise<void> => {
      for (const entry of await this.readTree(tree)) {
        const file = base ? `${base}/${entry.path}` : entry.path;
        if (entry.type === 'tree') await walk(entry.oid, file);
        else if (entry.type === 'blob') files.set(file, entry.oid);
      }
    };
    if (root) await walk(root, dir);
    return files;
  }

  /** What changed under `prefix` from commit `from` (undefined: the empty tree) to `to`, skipping equal subtrees. */
  async diff(from: string | undefined, to: string, prefix = ''): Promise<PathChange[]> {
    const dir = prefix.replace(/\/+$/, '');
    const changes: PathChange[] = [];
    const compare = async (before: string | undefined, after: string | undefined, base: string): Promise<void> => {
      if (before === after) return;
      const old = new Map((before ? await this.readTree(before) : []).map((entry) => [entry.path, entry]));
      const now = new Map((after ? await this.readTree(after) : []).map((entry) => [entry.path, entry]));
      for (const name of new Set([...old.keys(), ...now.keys()])) {
        const [a, b] = [old.get(name), now.get(name)];
        const file = base ? `${base}/${name}` : name;
        const treeA = a?.type === 'tree' ? a.oid : undefined;
        const treeB = b?.type === 'tree' ? b.oid : undefined;
        if (treeA || treeB) await compare(treeA, treeB, file);
        const blobA = a?.type === 'blob' ? a.oid : undefined;
        const blobB = b?.type === 'blob' ? b.oid : undefined;
        if (blobA !== blobB) changes.push({ path: file, type: !blobA ? 'created' : !blobB ? 'deleted' : 'updated', oldOid: blobA, newOid: blobB });
      }
    };
    await compare(from ? await this.subtree(from, dir) : undefined, await this.subtree(to, dir), dir);
    return changes.sort((a, b) => a.path.localeCompare(b.path));
  }

  async readText(oid: string): Promise<string> {
    const object = await this.readObject(oid);
    if (object.type !== 'blob') throw new Error(`${oid} is a ${object.type}, not a blob`);
    return object.content.toString('utf8');
  }

  /** Commits on the branch, newest first. */
  /**
   * Moves the branch from `from` to `to` (a fast-forward to commits fetched from the remote), in turn with this
   * process's commits and under the ref lock. False when the branch moved meanwhile: the next pull tries again.
   */
  fastForward(from: string | undefined, to: string): Promise<boolean> {
    const run = this.queue.then(() => this.updateRef(to, from).then(() => true, (error: unknown) => {
      if (error instanceof RefConflictError) return false;
      throw error;
    }));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The commits after `from` up to `to`, newest first, following first parents; undefined when `from` is not
   * among the newest `limit` (then the caller cannot tell whose they are).
   */
  async commitsBetween(from: string | undefined, to: string, limit = 1000): Promise<{ oid: string; message: string; parents: string[] }[] | undefined> {
    const entries = await (await isoGit()).log({ fs, gitdir: this.gitdir, ref: to, depth: limit, cache: this.cache });
    const commits: { oid: string; message: string; parents: string[] }[] = [];
    for (const entry of entries) {
      if (entry.oid === from) return commits;
      commits.push({ oid: entry.oid, message: entry.commit.message, parents: entry.commit.parent });
    }
    return from === undefined ? commits : undefined;
  }

  /** One commit: its parents, committer time (Unix seconds) and message. */
  async readCommit(oid: string): Promise<{ parents: string[]; timestamp: number; message: string }> {
    const object = await this.readObject(oid);
    if (object.type !== 'commit') throw new Error(`${oid} is a ${object.type}, not a commit`);
    const text = object.content.toString('utf8');
    const headerEnd = text.indexOf('\n\n');
    const header = text.slice(0, headerEnd < 0 ? text.length : headerEnd);
    const parents = [...header.matchAll(/^parent ([0-9a-f]{40})$/gm)].map((match) => match[1]!);
    const timestamp = Number(/^committer .* (\d+) [+-]\d{4}$/m.exec(header)?.[1] ?? 0);
    return { parents, timestamp, message: headerEnd < 0 ? '' : text.slice(headerEnd + 2) };
  }

  async log(depth?: number): Promise<{ oid: string; message: string; timestamp: number; parents: string[] }[]> {
    if (!(await this.head())) return [];
    const entries = await (await isoGit()).log({ fs, gitdir: this.gitdir, ref: this.ref, depth, cache: this.cache });
    return entries.map((entry) => ({ oid: entry.oid, message: entry.commit.message, timestamp: entry.commit.committer.timestamp, parents: entry.commit.parent }));
  }
}

function validatePath(file: string): void {
  if (!file || file.startsWith('/') || file.endsWith('/') || file.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`invalid mirror path "${file}"`);
  }
}
