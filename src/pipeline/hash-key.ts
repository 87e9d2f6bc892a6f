// Where the key of the Secret data hash comes from. Whoever holds it can confirm a guessed Secret value offline
// against the mirror's `lifeboat.dev/data-hash`, so it never lives in Redis: $LIFEBOAT_HASH_KEY, else the file
// $LIFEBOAT_HASH_KEY_FILE (a mounted Kubernetes Secret), else a random key kept beside the mirror (in its git
// directory, never committed nor pushed). A key earlier versions kept in Redis is moved to that file once.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const minimumBytes = 16;

/** The key earlier versions kept in Redis (`lifeboat:hash-key`): read once, moved to the file, deleted. */
export interface LegacyHashKey {
  read(): Promise<string | undefined>;
  remove(): Promise<void>;
}

export interface HashKeyOptions {
  env: NodeJS.ProcessEnv;
  /** The mirror's git directory: the default key file is `<gitdir>/lifeboat-hash-key`. */
  mirrorGitdir: string;
  legacy?: LegacyHashKey;
}

export interface LoadedHashKey {
  key: string;
  /** Where it came from, for the log: `$LIFEBOAT_HASH_KEY`, a file path, or the file it was moved to from Redis. */
  source: string;
  movedFromRedis: boolean;
}

export const defaultHashKeyFile = (mirrorGitdir: string) => path.join(mirrorGitdir, 'lifeboat-hash-key');

function checked(key: string, source: string): string {
  if (Buffer.byteLength(key, 'utf8') < minimumBytes) {
    throw new Error(`the Secret hash key from ${source} has ${Buffer.byteLength(key, 'utf8')} bytes; use at least ${minimumBytes} random bytes (e.g. openssl rand -hex 32)`);
  }
  return key;
}

function readKeyFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new Error(`cannot read the Secret hash key from ${what}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

/** Writes the key only if no other process wrote one first (both share the mirror); answers the key that won. */
function createKeyFile(file: string, key: string): string {
  try {
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readKeyFile(file, file);
  }
}

export async function loadHashKey(options: HashKeyOptions): Promise<LoadedHashKey> {
  const { env } = options;
  if (env.LIFEBOAT_HASH_KEY) return { key: checked(env.LIFEBOAT_HASH_KEY, '$LIFEBOAT_HASH_KEY'), source: '$LIFEBOAT_HASH_KEY', movedFromRedis: false };
  if (env.LIFEBOAT_HASH_KEY_FILE) {
    const what = `$LIFEBOAT_HASH_KEY_FILE (${env.LIFEBOAT_HASH_KEY_FILE})`;
    return { key: checked(readKeyFile(env.LIFEBOAT_HASH_KEY_FILE, what), what), source: env.LIFEBOAT_HASH_KEY_FILE, movedFromRedis: false };
  }
  const file = defaultHashKeyFile(options.mirrorGitdir);
  if (fs.existsSync(file)) {
    await options.legacy?.remove();
    return { key: checked(readKeyFile(file, file), file), source: file, movedFromRedis: false };
  }
  // The key of an existing installation keeps its mirror's data-hashes valid (no commit re-encrypting every Secret).
  const legacy = await options.legacy?.read();
  const key = createKeyFile(file, legacy ?? randomBytes(32).toString('hex'));
  if (legacy !== undefined) await options.legacy?.remove();
  return { key: checked(key, file), source: file, movedFromRedis: legacy !== undefined && key === legacy };
}
