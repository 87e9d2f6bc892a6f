// The git mirror: a bare repository whose branch holds the normalized manifests of every plan, one commit per
// batch. Commits are built directly from trees (no index, no work tree) and rewrite only the directories on the
// changed paths, so a commit costs O(changes), not O(objects). A commit that changes nothing is never made.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import git from 'isomorphic-git';

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

interface TreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

interface StoredObject {
  type: string;
  content: Buffer;
}

/** Least-recently-used objects up to a byte budget. */
class ObjectCache {
  private readonly entries = new Map<string, StoredObject>();
  private bytes = 0;
  private readonly budget: number;

  constructor(budget: number) {
    this.budget = budget;
  }

  get(oid: string): StoredObject | undefined {
    const object = this.entries.get(oid);
    if (object) {
      this.entries.delete(oid);
      this.entries.set(oid, object);
    }
    return object;
  }

  set(oid: string, object: StoredObject): void {
    if (this.entries.has(oid) || object.content.length > this.budget / 16) return;
    // A copy of its own: a small Buffer is a view into a shared 8 KiB pool slab (or a whole inflated object), and
    // keeping the view would keep all of that alive — at 10,000 objects, hundreds of MB outside the V8 heap.
    const content = Buffer.allocUnsafeSlow(object.content.length);
    object.content.copy(content);
    this.entries.set(oid, { type: object.type, content });
    this.bytes += object.content.length;
    for (const [key, old] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(key);
      this.bytes -= old.content.length;
    }
  }
}

/** A commit's new objects, by id, until they are stored. */
type ObjectBatch = Map<string, StoredObject>;

/** Object type numbers in a pack. */
const packTypes = { commit: 1, tree: 2, blob: 3 } as const;

/** A name or e-mail address as a commit header can hold it. */
const identity = (text: string) => text.replace(/[<>\n]/g, '').trim();

/** The id of the tree with no entries. */
const emptyTreeOid = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Commits with at least this many new objects are stored as a pack file. */
const packThreshold = 64;

/** The type-and-size header of an object in a pack: 3 type bits, then the size 4 and 7 bits at a time. */
/**
 * `mkdir -p` that names the real cause: Node's recursive mkdir answers ENOENT on a read-only file system, so a
 * mirror on a read-only volume would be reported as a missing directory instead of EROFS.
 */
function makeDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(path.dirname(dir))) throw error;
    fs.mkdirSync(dir); // its parent exists: this fails with the reason itself (EROFS, EACCES)
  }
}

function packedHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

const defaultAuthor: Author = { name: 'lifeboat', email: 'lifeboat@localhost' };

/** The branch moved between reading its head and updating it (another writer committed). */
export class RefConflictError extends Error {
  override readonly name = 'RefConflictError';
}

/** A lock file older than this was left by a process that died holding it (a ref update takes milliseconds). */
const staleLockMs = 10_000;

/** Creates `lock` exclusively, waiting while another writer holds it; answers its file descriptor. */
async function exclusiveLock(lock: string): Promise<number> {
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

export class MirrorRepository {
  readonly gitdir: string;
  readonly branch: string;
  private readonly cache: object = {};
  /** Objects are immutable by id: recently written or read ones are kept (bounded by bytes). */
  private readonly objects = new ObjectCache(16 * 1024 * 1024);
  private readonly trees = new Map<string, TreeEntry[]>();
  private readonly objectDirs = new Set<string>();
  /** Objects this process wrote into pack files (not written again, loose or packed). */
  private readonly packed = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(gitdir: string, branch: string) {
    this.gitdir = gitdir;
    this.branch = branch;
  }

  /** Opens (creating when missing) a bare mirror repository. */
  static async open(gitdir: string, options: { branch?: string } = {}): Promise<MirrorRepository> {
    const branch = options.branch ?? 'main';
    if (!fs.existsSync(path.join(gitdir, 'HEAD'))) {
      fs.mkdirSync(gitdir, { recursive: true });
      await git.init({ fs, gitdir, bare: true, defaultBranch: branch });
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
      const { commit } = await git.readCommit({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      const next = commit.parent[parent - 1];
      if (!next) throw unknown(`: commit ${oid.slice(0, 12)} has ${commit.parent.length ? `only ${commit.parent.length} parent(s)` : 'no parent'}`);
      oid = next;
    }
    return oid;
  }

  /** The object a revision's base names, or undefined. A ref wins over a commit id prefix of the same spelling, as in git. */
  private async resolveBase(base: string): Promise<string | undefined> {
    if (base === 'HEAD' || base === '@') return (await this.head()) ?? (await git.resolveRef({ fs, gitdir: this.gitdir, ref: 'HEAD' }).catch(() => undefined));
    const hex = /^[0-9a-f]{4,40}$/i.test(base);
    // resolveRef returns any 40-digit hex string as it is, existing or not: those go to expandOid, which checks.
    if (!(hex && base.length === 40)) {
      const ref = await git.resolveRef({ fs, gitdir: this.gitdir, ref: base }).catch(() => undefined);
      if (ref) return ref;
    }
    if (!hex) return undefined;
    try {
      return await git.expandOid({ fs, gitdir: this.gitdir, oid: base.toLowerCase(), cache: this.cache });
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
        object = await git.readObject({ fs, gitdir: this.gitdir, oid, cache: this.cache });
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
    const signature = `${identity(author.name)} <${identity(author.email)}> ${Math.floor(Date.now() / 1000)} +0000`;
    const body = `tree ${tree ?? emptyTree}\n${parent ? `parent ${parent}\n` : ''}author ${signature}\ncommitter ${signature}\n\n${message.endsWith('\n') ? message : `${message}\n`}`;
    const oid = this.hashObject('commit', Buffer.from(body), batch);
    this.store(batch);
    await this.updateRef(oid, parent);
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

  /** Stores a commit's new objects: one pack file for a big batch (an initial sync), loose objects otherwise. */
  private store(batch: ObjectBatch): void {
    if (batch.size >= packThreshold) this.writePack(batch);
    else for (const [oid, object] of batch) this.writeLoose(oid, object);
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
   * Writes a loose object with Node's native zlib (isomorphic-git deflates in JavaScript, which made commits the
   * pipeline's bottleneck). Synchronous on purpose: a few small files per commit cost microseconds each this way,
   * milliseconds each through the libuv thread pool. Written to a temporary file and renamed, so a crash never
   * leaves a truncated object. An object that exists is not written again.
   */
  private writeLoose(oid: string, { type, content }: StoredObject): void {
    const dir = path.join(this.gitdir, 'objects', oid.slice(0, 2));
    const file = path.join(dir, oid.slice(2));
    if (this.packed.has(oid) || fs.existsSync(file)) return;
    if (!this.objectDirs.has(dir)) {
      makeDirectory(dir);
      this.objectDirs.add(dir);
    }
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, deflateSync(Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]), { level: 1 }));
    fs.renameSync(temporary, file);
  }

  /**
   * Writes objects as one git pack (version 2, no deltas) and its index, as `git index-pack` would: three file
   * operations for a thousand objects instead of three thousand. The pack is complete before its index appears,
   * so a reader never finds an index to a partial pack. Objects already packed by this process are left out.
   */
  private writePack(batch: ObjectBatch): void {
    const entries: { oid: string; offset: number; crc: number }[] = [];
    const parts: Buffer[] = [];
    let offset = 12;
    for (const [oid, { type, content }] of batch) {
      if (this.packed.has(oid)) continue;
      const entry = Buffer.concat([packedHeader(packTypes[type as keyof typeof packTypes], content.length), deflateSync(content, { level: 1 })]);
      entries.push({ oid, offset, crc: crc32(entry) });
      parts.push(entry);
      offset += entry.length;
    }
    if (entries.length === 0) return;
    if (offset >= 2 ** 31) {
      for (const [oid, object] of batch) this.writeLoose(oid, object); // beyond 32-bit pack offsets: loose instead
      return;
    }
    const header = Buffer.alloc(12);
    header.write('PACK', 0, 'latin1');
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(entries.length, 8);
    const packHash = createHash('sha1').update(header);
    for (const part of parts) packHash.update(part);
    const packChecksum = packHash.digest();

    entries.sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
    const count = entries.length;
    const index = Buffer.alloc(8 + 256 * 4 + count * 28 + 40);
    index.writeUInt32BE(0xff744f63, 0); // "\377tOc"
    index.writeUInt32BE(2, 4);
    let position = 0;
    for (let byte = 0; byte < 256; byte++) {
      while (position < count && Number.parseInt(entries[position]!.oid.slice(0, 2), 16) <= byte) position++;
      index.writeUInt32BE(position, 8 + byte * 4);
    }
    const names = 8 + 256 * 4;
    const crcs = names + count * 20;
    const offsets = crcs + count * 4;
    entries.forEach((entry, at) => {
      index.write(entry.oid, names + at * 20, 'hex');
      index.writeUInt32BE(entry.crc, crcs + at * 4);
      index.writeUInt32BE(entry.offset, offsets + at * 4);
    });
    packChecksum.copy(index, offsets + count * 4);
    createHash('sha1').update(index.subarray(0, offsets + count * 4 + 20)).digest().copy(index, offsets + count * 4 + 20);

    const dir = path.join(this.gitdir, 'objects', 'pack');
    makeDirectory(dir);
    const base = path.join(dir, `pack-${packChecksum.toString('hex')}`);
    for (const [file, content] of [[`${base}.pack`, Buffer.concat([header, ...parts, packChecksum])], [`${base}.idx`, index]] as const) {
      fs.writeFileSync(`${file}.${process.pid}.tmp`, content);
      fs.renameSync(`${file}.${process.pid}.tmp`, file);
    }
    for (const entry of entries) this.packed.add(entry.oid);
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
      const read = await git.readObject({ fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
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
    const entries = await git.log({ fs, gitdir: this.gitdir, ref: to, depth: limit, cache: this.cache });
    const commits: { oid: string; message: string; parents: string[] }[] = [];
    for (const entry of entries) {
      if (entry.oid === from) return commits;
      commits.push({ oid: entry.oid, message: entry.commit.message, parents: entry.commit.parent });
    }
    return from === undefined ? commits : undefined;
  }

  async log(depth?: number): Promise<{ oid: string; message: string; timestamp: number; parents: string[] }[]> {
    if (!(await this.head())) return [];
    const entries = await git.log({ fs, gitdir: this.gitdir, ref: this.ref, depth, cache: this.cache });
    return entries.map((entry) => ({ oid: entry.oid, message: entry.commit.message, timestamp: entry.commit.committer.timestamp, parents: entry.commit.parent }));
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

/** Git's tree encoding: entries in git's order (a tree sorts as if its name ended in "/"), `<mode> <name>\0<sha>`. */
function encodeTree(entries: TreeEntry[]): Buffer {
  const sortName = (entry: TreeEntry) => (entry.type === 'tree' ? `${entry.path}/` : entry.path);
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(sortName(a)), Buffer.from(sortName(b))));
  return Buffer.concat(sorted.flatMap((entry) => [
    Buffer.from(`${entry.type === 'tree' ? '40000' : entry.mode} ${entry.path}\0`), Buffer.from(entry.oid, 'hex'),
  ]));
}

function decodeTree(content: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let offset = 0;
  while (offset < content.length) {
    const space = content.indexOf(0x20, offset);
    const nul = content.indexOf(0, space);
    const mode = content.toString('latin1', offset, space);
    const name = content.toString('utf8', space + 1, nul);
    const oid = content.toString('hex', nul + 1, nul + 21);
    const type = mode === '40000' || mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : 'blob';
    entries.push({ mode: type === 'tree' ? '040000' : mode, path: name, oid, type });
    offset = nul + 21;
  }
  return entries;
}

function validatePath(file: string): void {
  if (!file || file.startsWith('/') || file.endsWith('/') || file.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`invalid mirror path "${file}"`);
  }
}

/** A commit message: summary line, one line per changed object, a blank line, then `Key: value` trailers. */
export function commitMessage(summary: string, lines: string[], trailers: Record<string, string>): string {
  const trailerText = Object.entries(trailers).map(([key, value]) => `${key}: ${value}`).join('\n');
  return [summary, '', ...lines, ...(lines.length ? [''] : []), trailerText].join('\n');
}

/** Parses `Key: value` trailers from the last paragraph of a commit message. */
export function parseTrailers(message: string): Record<string, string> {
  const paragraphs = message.trimEnd().split(/\n\s*\n/);
  const last = paragraphs.at(-1) ?? '';
  const trailers: Record<string, string> = {};
  for (const line of last.split('\n')) {
    const match = /^([A-Za-z][A-Za-z0-9-]*): (.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) trailers[match[1]] = match[2];
  }
  return trailers;
}

/**
 * Keeps the mirror branch and its HTTP(S) remote in step. After commits the branch is pushed, coalescing: while a
 * push runs, later requests collapse into one more push of the newest head. Commits a person pushed to the remote
 * (a `git revert`, a fix) are pulled: when the remote branch is ahead of the local one it is fast-forwarded, the
 * caller is told (to pause capture of those objects and synchronize), and the mirror writer's next batch goes on top.
 * Failures are retried with backoff and reported, never thrown into the commit path.
 */
export class MirrorPusher {
  private readonly repository: MirrorRepository;
  private readonly url: string;
  private readonly token: string | undefined;
  private readonly onError: (error: Error, attempt: number) => void;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private remoteConfigured = false;
  lastPushed: string | undefined;
  /** Called after commits from the remote were fast-forwarded into the local branch. */
  onRemoteCommits: ((from: string | undefined, to: string) => Promise<void>) | undefined;

  constructor(repository: MirrorRepository, url: string, options: { token?: string; onError?: (error: Error, attempt: number) => void } = {}) {
    this.repository = repository;
    this.url = url;
    this.token = options.token;
    this.onError = options.onError ?? (() => {});
  }

  /** Pulls and pushes, coalesced with any run in progress. */
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pushWithRetries();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Also looks at the remote every `intervalMs`, so commits pushed there are picked up without local activity. */
  start(intervalMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.request().finally(() => this.timer && tick()), intervalMs);
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private auth() {
    const token = this.token;
    return token ? () => ({ username: 'lifeboat', password: token }) : undefined;
  }

  /** Fetches the remote branch; fast-forwards the local one when the remote is ahead. Returns the remote head. */
  private async pull(http: Parameters<typeof git.fetch>[0]['http']): Promise<string | undefined> {
    // isomorphic-git fetches through a configured remote (its refspec says where the remote branch goes).
    if (!this.remoteConfigured) await git.addRemote({ fs, gitdir: this.repository.gitdir, remote: 'mirror-remote', url: this.url, force: true });
    this.remoteConfigured = true;
    const fetched = await git.fetch({ fs, http, gitdir: this.repository.gitdir, remote: 'mirror-remote', ref: this.repository.branch, singleBranch: true, tags: false, onAuth: this.auth() });
    const remote = fetched.fetchHead ?? undefined;
    const local = await this.repository.head();
    if (!remote || remote === local) return remote;
    const ahead = !local || (await git.isDescendent({ fs, gitdir: this.repository.gitdir, oid: remote, ancestor: local, depth: -1 }));
    if (!ahead) return remote;
    // Under the same lock and compare-and-swap as a commit: a batch committed meanwhile is not overwritten.
    if (!(await this.repository.fastForward(local, remote))) return remote;
    this.lastPushed = remote;
    await this.onRemoteCommits?.(local, remote);
    return remote;
  }

  private async pushWithRetries(): Promise<void> {
    const http = (await import('isomorphic-git/http/node')).default;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const remote = await this.pull(http).catch((error: Error) => {
          // An empty remote has no branch to fetch yet: the push below creates it.
          if (/Could not find|not found|NotFoundError/i.test(error.message)) return undefined;
          throw error;
        });
        const head = await this.repository.head();
        if (!head || head === this.lastPushed || head === remote) {
          this.lastPushed = head ?? this.lastPushed;
          return;
        }
        const result = await git.push({
          fs, http, gitdir: this.repository.gitdir, url: this.url, ref: this.repository.branch, remoteRef: this.repository.branch, onAuth: this.auth(),
        });
        if (!result.ok) throw new Error(`push to ${this.url} was refused: ${JSON.stringify(result.refs)}`);
        this.lastPushed = head;
        return;
      } catch (error) {
        this.onError(error as Error, attempt);
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 15_000)));
      }
    }
  }
}
