// Git object storage for the mirror: the object encodings (trees, pack headers), the in-memory object cache, and
// the writer of loose objects and pack files with Node's native zlib. MirrorRepository (repository.ts) builds
// commits on top of these.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { writeFileAtomic } from '../util/file.ts';

export interface TreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

export interface StoredObject {
  type: string;
  content: Buffer;
}

/** Least-recently-used objects up to a byte budget. */
export class ObjectCache {
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
export type ObjectBatch = Map<string, StoredObject>;

/** Object type numbers in a pack. */
const packTypes = { commit: 1, tree: 2, blob: 3 } as const;

/** The id of the tree with no entries. */
export const emptyTreeOid = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Commits with at least this many new objects are stored as a pack file. */
const packThreshold = 64;

/**
 * `mkdir -p` that names the real cause: Node's recursive mkdir answers ENOENT on a read-only file system, so a
 * mirror on a read-only volume would be reported as a missing directory instead of EROFS.
 */
export function makeDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(path.dirname(dir))) throw error;
    fs.mkdirSync(dir); // its parent exists: this fails with the reason itself (EROFS, EACCES)
  }
}

/** The type-and-size header of an object in a pack: 3 type bits, then the size 4 and 7 bits at a time. */
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

/** Writes a repository's objects, loose or packed, remembering what it wrote so nothing is written twice. */
export class ObjectWriter {
  private readonly gitdir: string;
  private readonly objectDirs = new Set<string>();
  /** Objects this process wrote into pack files (not written again, loose or packed). */
  private readonly packed = new Set<string>();

  constructor(gitdir: string) {
    this.gitdir = gitdir;
  }

  /** Stores a commit's new objects: one pack file for a big batch (an initial sync), loose objects otherwise. */
  store(batch: ObjectBatch): void {
    if (batch.size >= packThreshold) this.writePack(batch);
    else for (const [oid, object] of batch) this.writeLoose(oid, object);
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
    writeFileAtomic(file, deflateSync(Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]), { level: 1 }));
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
    writeFileAtomic(`${base}.pack`, Buffer.concat([header, ...parts, packChecksum]));
    writeFileAtomic(`${base}.idx`, index);
    for (const entry of entries) this.packed.add(entry.oid);
  }
}

/** Git's tree encoding: entries in git's order (a tree sorts as if its name ended in "/"), `<mode> <name>\0<sha>`. */
export function encodeTree(entries: TreeEntry[]): Buffer {
  const sortName = (entry: TreeEntry) => (entry.type === 'tree' ? `${entry.path}/` : entry.path);
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(sortName(a)), Buffer.from(sortName(b))));
  return Buffer.concat(sorted.flatMap((entry) => [
    Buffer.from(`${entry.type === 'tree' ? '40000' : entry.mode} ${entry.path}\0`), Buffer.from(entry.oid, 'hex'),
  ]));
}

export function decodeTree(content: Buffer): TreeEntry[] {
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
