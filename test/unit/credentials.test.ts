// Credentials, pure parts: passwords masked in URLs, credentials taken out of NATS URLs, each component's subject
// permissions, the sandbox's Redis ACL, and where the Secret hash key comes from (never Redis).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { natsServers } from '../../src/bus/bus.ts';
import { permissionsOf } from '../../src/bus/permissions.ts';
import { defaultHashKeyFile, loadHashKey, type LegacyHashKey } from '../../src/pipeline/hash-key.ts';
import { natsAuthorization, redisAcl, type SandboxCredentials } from '../../src/sandbox/credentials.ts';
import { credentialsOf, redactUrl } from '../../src/util/redact.ts';

test('a URL\'s password (or lone token) is masked; the user name stays', (t) => {
  const cases: [string, string][] = [
    ['redis://lifeboat:s3cret@127.0.0.1:6379', 'redis://lifeboat:***@127.0.0.1:6379'],
    ['nats://a:b@h1:4222,nats://c:d@h2:4222', 'nats://a:***@h1:4222,nats://c:***@h2:4222'],
    ['redis://:only-password@host', 'redis://:***@host'],
    ['nats://token@host:4222', 'nats://***@host:4222'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['cannot reach redis://u:p@h: refused', 'cannot reach redis://u:***@h: refused'],
  ];
  for (const [url, expected] of cases) t.is(redactUrl(url), expected, url);
  t.deepEqual(credentialsOf('redis://lifeboat:p%40ss@h:1'), { user: 'lifeboat', password: 'p@ss' });
  t.is(credentialsOf('redis://h:1'), undefined);
});

test('NATS URLs: servers without their credentials, user and password as options', (t) => {
  t.deepEqual(natsServers('nats://lifeboat:pw@127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'], user: 'lifeboat', pass: 'pw' });
  t.deepEqual(natsServers('nats://h1:1, nats://u:p@h2:2'), { servers: ['nats://h1:1', 'nats://h2:2'], user: 'u', pass: 'p' });
  t.deepEqual(natsServers('nats://127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'] });
});

test('each component publishes only its own stage\'s subjects; lifeboat run holds them all', (t) => {
  const listener = permissionsOf('listener');
  t.true(listener.publish.includes('lifeboat.events.>'));
  t.false(listener.publish.some((subject) => subject.startsWith('lifeboat.objects') || subject.startsWith('lifeboat.commits')));
  t.false(listener.publish.some((subject) => subject.includes('CONSUMER')), 'the listener consumes nothing');
  const processor = permissionsOf('processor');
  t.true(processor.publish.includes('lifeboat.objects.>'));
  t.true(processor.publish.includes('$JS.API.CONSUMER.MSG.NEXT.LIFEBOAT_EVENTS.*'));
  t.false(processor.publish.some((subject) => subject.includes('LIFEBOAT_COMMITS') && subject.includes('CONSUMER')));
  t.false(processor.publish.includes('lifeboat.commits.>'));
  t.true(permissionsOf('mirror').publish.includes('lifeboat.commits.>'));
  t.false(permissionsOf('mirror').publish.includes('lifeboat.events.>'));
  t.deepEqual(permissionsOf('synchronizer').publish.filter((subject) => subject.startsWith('lifeboat.')), ['lifeboat.blobs.>', 'lifeboat.events.>', 'lifeboat.objects.>']);
  const all = permissionsOf('lifeboat');
  for (const component of ['listener', 'processor', 'mirror', 'synchronizer'] as const) {
    t.deepEqual(permissionsOf(component).publish.filter((subject) => !all.publish.includes(subject)), [], component);
  }
  for (const component of ['lifeboat', 'listener', 'processor', 'mirror', 'synchronizer'] as const) {
    t.deepEqual(permissionsOf(component).subscribe, ['_INBOX.>'], component);
    t.false(permissionsOf(component).publish.some((subject) => subject === '>' || subject === '$JS.API.>'), component);
  }
});

const credentials: SandboxCredentials = {
  nats: { lifeboat: 'n0', listener: 'n1', processor: 'n2', mirror: 'n3', synchronizer: 'n4' },
  redis: { lifeboat: 'r0', status: 'r1' },
};

test('the sandbox\'s NATS users and Redis ACL: default user off, passwords hashed, the status user reads only', (t) => {
  const nats = JSON.parse(natsAuthorization(credentials)) as { authorization: { users: { user: string; password: string }[] } };
  t.deepEqual(nats.authorization.users.map((user) => [user.user, user.password]),
    [['lifeboat', 'n0'], ['lifeboat-listener', 'n1'], ['lifeboat-processor', 'n2'], ['lifeboat-mirror', 'n3'], ['lifeboat-synchronizer', 'n4']]);
  const acl = redisAcl(credentials).trim().split('\n');
  t.is(acl[0], 'user default off resetpass -@all');
  t.regex(acl[1]!, /^user lifeboat on resetpass #[0-9a-f]{64} resetkeys ~lifeboat:\* resetchannels -@all .* -@dangerous \+info$/);
  t.regex(acl[2]!, /^user lifeboat-status on resetpass #[0-9a-f]{64} resetkeys ~lifeboat:\* resetchannels -@all \+@connection \+@read -@dangerous \+info$/);
  t.false(redisAcl(credentials).includes('r0'), 'no password in the clear');
});

/** A key an earlier version kept in Redis, as the runtime hands it over (get and delete of one key). */
function legacy(value: string | undefined): LegacyHashKey & { removed: boolean } {
  const entry = { value, removed: false };
  return Object.assign(entry, {
    read: async () => entry.value,
    remove: async () => {
      entry.value = undefined;
      entry.removed = true;
    },
  });
}

test('the Secret hash key: $LIFEBOAT_HASH_KEY, else $LIFEBOAT_HASH_KEY_FILE, else a 0600 file beside the mirror; a key in Redis moves there once', async (t) => {
  const gitdir = fs.mkdtempSync(path.join(os.tmpdir(), 'hash-key-'));
  const key = 'k'.repeat(32);
  t.deepEqual(await loadHashKey({ env: { LIFEBOAT_HASH_KEY: key }, mirrorGitdir: gitdir }), { key, source: '$LIFEBOAT_HASH_KEY', movedFromRedis: false });
  const file = path.join(gitdir, 'secret-key');
  fs.writeFileSync(file, `${key}\n`);
  t.is((await loadHashKey({ env: { LIFEBOAT_HASH_KEY_FILE: file }, mirrorGitdir: gitdir })).key, key);
  await t.throwsAsync(loadHashKey({ env: { LIFEBOAT_HASH_KEY_FILE: path.join(gitdir, 'missing') }, mirrorGitdir: gitdir }),
    { message: `cannot read the Secret hash key from $LIFEBOAT_HASH_KEY_FILE (${path.join(gitdir, 'missing')}): ENOENT` });
  await t.throwsAsync(loadHashKey({ env: { LIFEBOAT_HASH_KEY: 'short' }, mirrorGitdir: gitdir }), { message: /from \$LIFEBOAT_HASH_KEY has 5 bytes; use at least 16/ });

  // An existing installation: the key in Redis is moved to the file and deleted from Redis; later starts read the file.
  const old = legacy('o'.repeat(64));
  t.deepEqual(await loadHashKey({ env: {}, mirrorGitdir: gitdir, legacy: old }), { key: 'o'.repeat(64), source: defaultHashKeyFile(gitdir), movedFromRedis: true });
  t.true(old.removed);
  t.is(fs.statSync(defaultHashKeyFile(gitdir)).mode & 0o777, 0o600);
  t.is((await loadHashKey({ env: {}, mirrorGitdir: gitdir, legacy: legacy(undefined) })).key, 'o'.repeat(64));

  // A new installation: a random key, the same on every start.
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'hash-key-'));
  const first = await loadHashKey({ env: {}, mirrorGitdir: fresh, legacy: legacy(undefined) });
  t.regex(first.key, /^[0-9a-f]{64}$/);
  t.false(first.movedFromRedis);
  t.is((await loadHashKey({ env: {}, mirrorGitdir: fresh })).key, first.key);
});
