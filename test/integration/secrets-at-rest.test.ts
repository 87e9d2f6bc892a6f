// Secret values never rest outside the two clusters: a Secret created the way most are (`kubectl apply`, which
// copies the whole manifest — stringData and data — into an annotation) is replicated, and then every place
// lifeboat writes is searched for its values: JetStream's files, the mirror's git objects, Redis (every key, and
// its append-only file) and lifeboat's own debug log.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { createNamespace, demoRecipient, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const run = promisify(execFile);

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Every value Redis holds, whatever the key's type, as one text. */
async function redisContents(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    const parts: string[] = [];
    for await (const keys of redis.scanStream({ count: 1000 }) as AsyncIterable<string[]>) {
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'string') parts.push(key, (await redis.getBuffer(key))?.toString('latin1') ?? '');
        else if (type === 'hash') parts.push(key, JSON.stringify(await redis.hgetall(key)));
        else if (type === 'set') parts.push(key, JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(key, JSON.stringify(await redis.zrange(key, '0', '-1')));
        else if (type === 'list') parts.push(key, JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'stream') parts.push(key, JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

test('a Secret created with kubectl apply: its values are nowhere in JetStream, the mirror, Redis or the log', async (t) => {
  t.timeout(4 * 60_000);
  const info = await sandbox();
  const ns = uniqueName('at-rest');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'encrypt', recipients: [demoRecipient] } }, { logFile: true });
  t.teardown(() => handle.close());
  await createNamespace(handle.source, ns);
  await handle.start();

  // Two values: one given as stringData (plaintext in the manifest), one as data (base64 in the manifest).
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const token = `tk-${randomBytes(12).toString('hex')}`;
  const manifest = path.join(handle.dir, 'secret.yaml');
  fs.writeFileSync(manifest, stringify({
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: ns }, type: 'Opaque',
    stringData: { password }, data: { token: Buffer.from(token).toString('base64') },
  }));
  const kubectl = info.binDir ? path.join(info.binDir, 'kubectl') : 'kubectl';
  await run(kubectl, ['--kubeconfig', info.kubeconfig, '--context', 'source', 'apply', '-f', manifest]);
  const source = await get<{ metadata: { annotations?: Record<string, string> } }>(handle.source, `/api/v1/namespaces/${ns}/secrets/db`);
  t.true(source?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']?.includes(password), 'kubectl apply wrote the values into the annotation at the source');

  // It arrives whole at the stand-by (so it really went through every stage).
  const arrived = await eventually('the Secret at the stand-by', () => get<{ data?: Record<string, string> }>(handle.destination, `/api/v1/namespaces/${ns}/secrets/db`), (secret) => secret?.data !== undefined);
  t.deepEqual(arrived?.data, { password: Buffer.from(password).toString('base64'), token: Buffer.from(token).toString('base64') });
  await new Promise((resolve) => setTimeout(resolve, 2000)); // JetStream and Redis' AOF flush within a second

  const needles = [password, token].flatMap((value) => [value, Buffer.from(value).toString('base64')]);
  const found: string[] = [];
  const search = (where: string, text: string) => {
    for (const needle of needles) if (text.includes(needle)) found.push(`${where} holds ${needle}`);
  };
  for (const file of filesUnder(path.join(info.dir, 'nats'))) search(file, fs.readFileSync(file).toString('latin1'));
  const objects = await run('git', ['--git-dir', handle.mirror.gitdir, 'cat-file', '--batch-all-objects', '--batch'], { maxBuffer: 512 * 1024 * 1024, encoding: 'latin1' });
  search(`mirror ${handle.mirror.gitdir}`, objects.stdout);
  search('Redis', await redisContents(info.redisUrl));
  for (const file of filesUnder(path.join(info.dir, 'redis'))) search(file, fs.readFileSync(file).toString('latin1'));
  search(`log ${handle.logFile}`, fs.readFileSync(handle.logFile!, 'utf8'));
  t.deepEqual(found, []);
  // The searches would have found it: the mirror does hold the Secret (encrypted), and the log mentions it.
  t.regex(objects.stdout, /lifeboat\.dev\/encrypted-data/);
});
