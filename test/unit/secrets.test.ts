// Secret encryption: exact round trips, no plaintext anywhere in what leaves the cluster, stable keyed hashes over
// randomized ciphertext, and errors a person can act on. Keys are generated at test time.
import test from 'ava';
import { generateIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption';
import type { KubeObject } from '../../src/kube/ref.ts';
import {
  dataHashAnnotation, decryptSecret, encryptedDataAnnotation, encryptedToAnnotation, encryptSecret, isEncryptedSecret, keepPreviousCiphertext,
  secretDataHash, SecretEncryptionError,
} from '../../src/pipeline/secrets.ts';

const hashKey = 'test-hash-key-0123456789abcdef';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

async function keyPair(kind: 'x25519' | 'hybrid' = 'x25519'): Promise<{ identity: string; recipient: string }> {
  const identity = kind === 'x25519' ? await generateX25519Identity() : await generateIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

function secret(data?: Record<string, string>, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Secret',
    metadata: { name: 'db', namespace: 'shop', labels: { app: 'db' }, annotations: { owner: 'team-db' } },
    type: 'Opaque',
    ...(data ? { data } : {}),
    ...extra,
  };
}

const plaintexts = {
  password: 'hunter2-correct-horse',
  token: 'tok_live_8f14e45fceea167a5a36dedd4bea2543',
};

const roundTrips: { title: string; input: KubeObject; data: Record<string, string> | undefined }[] = [
  { title: 'data', input: secret({ password: b64(plaintexts.password), token: b64(plaintexts.token) }), data: { password: b64(plaintexts.password), token: b64(plaintexts.token) } },
  { title: 'binary data', input: secret({ 'tls.key': Buffer.from([0, 255, 1, 254]).toString('base64') }), data: { 'tls.key': 'AP8B/g==' } },
  {
    title: 'stringData folded into data, winning over data',
    input: secret({ password: b64('old'), user: b64('app') }, { stringData: { password: plaintexts.password, 'config.yaml': 'a: 1\n' } }),
    data: { 'config.yaml': b64('a: 1\n'), password: b64(plaintexts.password), user: b64('app') },
  },
  { title: 'a key named __proto__', input: secret(JSON.parse('{"__proto__":"eA==","a":"eQ=="}')), data: JSON.parse('{"__proto__":"eA==","a":"eQ=="}') },
  { title: 'no data at all', input: secret(), data: undefined },
  { title: 'empty data map', input: secret({}), data: undefined },
];

for (const { title, input, data } of roundTrips) {
  test(`round trip: ${title}`, async (t) => {
    const { identity, recipient } = await keyPair();
    const encrypted = await encryptSecret(input, [recipient], hashKey);
    t.true(isEncryptedSecret(encrypted));
    t.false('data' in encrypted);
    t.false('stringData' in encrypted);
    t.is(encrypted.metadata.annotations?.[encryptedToAnnotation], recipient);
    t.regex(encrypted.metadata.annotations?.[dataHashAnnotation] ?? '', /^hmac-sha256:[0-9a-f]{64}$/);
    t.regex(encrypted.metadata.annotations?.[encryptedDataAnnotation] ?? '', /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/);

    const { stringData: _stringData, data: _data, ...rest } = input;
    t.deepEqual(await decryptSecret(encrypted, [identity]), { ...rest, ...(data ? { data } : {}) });
  });
}

test('the input is not mutated and everything but the data is kept', async (t) => {
  const { recipient } = await keyPair();
  const input = secret({ password: b64(plaintexts.password) }, { immutable: true, type: 'kubernetes.io/basic-auth' });
  const before = structuredClone(input);
  const encrypted = await encryptSecret(input, [recipient], hashKey);
  t.deepEqual(input, before);
  const { [encryptedDataAnnotation]: _c, [dataHashAnnotation]: _h, [encryptedToAnnotation]: _r, ...annotations } = encrypted.metadata.annotations ?? {};
  t.deepEqual({ ...encrypted, metadata: { ...encrypted.metadata, annotations } }, {
    apiVersion: 'v1', kind: 'Secret', immutable: true, type: 'kubernetes.io/basic-auth',
    metadata: { name: 'db', namespace: 'shop', labels: { app: 'db' }, annotations: { owner: 'team-db' } },
  });
});

test('no plaintext value, nor its base64, appears anywhere in the encrypted object', async (t) => {
  const { recipient } = await keyPair();
  const input = secret({ password: b64(plaintexts.password) }, { stringData: { token: plaintexts.token } });
  const json = JSON.stringify(await encryptSecret(input, [recipient], hashKey));
  for (const value of Object.values(plaintexts)) {
    t.false(json.includes(value), 'plaintext');
    t.false(json.includes(b64(value)), 'base64');
    t.false(json.includes(b64(value).slice(4, 24)), 'a run of the base64');
  }
});

test('encryption is randomized, the keyed hash is stable and follows the plaintext', async (t) => {
  const { identity, recipient } = await keyPair();
  const input = secret({ password: b64(plaintexts.password) });
  const first = await encryptSecret(input, [recipient], hashKey);
  const second = await encryptSecret(input, [recipient], hashKey);
  t.not(first.metadata.annotations?.[encryptedDataAnnotation], second.metadata.annotations?.[encryptedDataAnnotation]);
  t.is(first.metadata.annotations?.[dataHashAnnotation], second.metadata.annotations?.[dataHashAnnotation]);
  t.is(first.metadata.annotations?.[dataHashAnnotation], secretDataHash(input, hashKey));
  t.deepEqual(await decryptSecret(first, [identity]), await decryptSecret(second, [identity]));

  // The same data written as data or stringData hashes the same; any change, or another key, changes the hash.
  t.is(secretDataHash(secret(undefined, { stringData: { password: plaintexts.password } }), hashKey), secretDataHash(input, hashKey));
  t.not(secretDataHash(secret({ password: b64('other') }), hashKey), secretDataHash(input, hashKey));
  t.not(secretDataHash(secret({ pass: b64(plaintexts.password) }), hashKey), secretDataHash(input, hashKey));
  t.not(secretDataHash(input, 'another-hash-key-0123456789'), secretDataHash(input, hashKey));
  t.is(secretDataHash(secret({ b: b64('2'), a: b64('1') }), hashKey), secretDataHash(secret({ a: b64('1'), b: b64('2') }), hashKey));
});

test('an unchanged Secret keeps its previous ciphertext, so it serializes to the same bytes', async (t) => {
  const one = await keyPair();
  const two = await keyPair();
  const input = secret({ password: b64(plaintexts.password) });
  const previous = await encryptSecret(input, [one.recipient], hashKey);
  const next = await encryptSecret(input, [one.recipient], hashKey);
  t.deepEqual(keepPreviousCiphertext(next, previous), previous);
  t.deepEqual(keepPreviousCiphertext(next, undefined), next);

  const changed = await encryptSecret(secret({ password: b64('rotated') }), [one.recipient], hashKey);
  t.is(keepPreviousCiphertext(changed, previous), changed);
  const reKeyed = await encryptSecret(input, [one.recipient, two.recipient], hashKey);
  t.is(keepPreviousCiphertext(reKeyed, previous), reKeyed, 'new recipients need a new ciphertext');
  const renamed = await encryptSecret({ ...input, metadata: { ...input.metadata, name: 'db2' } }, [one.recipient], hashKey);
  t.is(keepPreviousCiphertext(renamed, previous), renamed);
});

test('several recipients, including post-quantum ones: each identity decrypts alone', async (t) => {
  const classic = await keyPair('x25519');
  const hybrid = await keyPair('hybrid');
  const input = secret({ password: b64(plaintexts.password) });
  const encrypted = await encryptSecret(input, [hybrid.recipient, classic.recipient, classic.recipient], hashKey);
  t.is(encrypted.metadata.annotations?.[encryptedToAnnotation], [classic.recipient, hybrid.recipient].sort().join(','));
  for (const identity of [classic.identity, hybrid.identity]) {
    t.deepEqual((await decryptSecret(encrypted, [identity])).data, input.data);
  }
});

test('encryption errors say what to do and never echo a private key', async (t) => {
  const { identity, recipient } = await keyPair();
  const input = secret({ password: b64(plaintexts.password) });
  const cases: [readonly string[], string | Uint8Array, RegExp][] = [
    [[], hashKey, /cannot encrypt Secret shop\/db: no age recipients; list age public keys \(age1\.\.\.\)/],
    [['not-a-key'], hashKey, /recipient 1 \(not-a-ke\.\.\.\) is not a valid age recipient/],
    [[recipient, 'age1qqqqqqqqqq'], hashKey, /recipient 2 \(age1qqqq\.\.\.\) is not a valid age recipient/],
    [[identity], hashKey, /recipient 1 is an age identity \(a private key\)/],
    [[recipient], 'short', /hash key has 5 bytes; use at least 16/],
  ];
  for (const [recipients, key, message] of cases) {
    const error = await t.throwsAsync(encryptSecret(input, recipients, key), { instanceOf: SecretEncryptionError, message });
    t.false(error?.message.includes(identity.slice(16)) ?? true, 'the identity is not in the message');
  }
  await t.throwsAsync(encryptSecret({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, [recipient], hashKey), { message: /only core v1 Secrets/ });
  await t.throwsAsync(encryptSecret(await encryptSecret(input, [recipient], hashKey), [recipient], hashKey), { message: /already encrypted/ });
  await t.throwsAsync(encryptSecret(secret(undefined, { data: { n: 1 } as unknown as Record<string, string> }), [recipient], hashKey), { message: /data\.n is not a string/ });
});

test('the wrong identity fails clearly', async (t) => {
  const owner = await keyPair();
  const stranger = await keyPair();
  const encrypted = await encryptSecret(secret({ password: b64(plaintexts.password) }), [owner.recipient], hashKey);
  await t.throwsAsync(decryptSecret(encrypted, [stranger.identity]), {
    instanceOf: SecretEncryptionError,
    message: `cannot decrypt Secret shop/db: none of the 1 age identities matches the recipients it was encrypted to (${owner.recipient}); give the identity of one of them`,
  });
  await t.throwsAsync(decryptSecret(encrypted, []), { message: /no age identities were given/ });
  await t.throwsAsync(decryptSecret(encrypted, ['AGE-SECRET-KEY-1NOTAKEY']), { message: /identity 1 is not an age identity/ });
  await t.throwsAsync(decryptSecret(secret({ a: 'YQ==' }), [owner.identity]), { message: /has no lifeboat.dev\/encrypted-data annotation/ });
});

test('tampered ciphertext fails clearly', async (t) => {
  const { identity, recipient } = await keyPair();
  const encrypted = await encryptSecret(secret({ password: b64(plaintexts.password) }), [recipient], hashKey);
  const armored = encrypted.metadata.annotations?.[encryptedDataAnnotation] ?? '';
  const lines = armored.split('\n');
  const flip = (line: string, at: number) => line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
  const lastBody = lines.length - 3;
  const variants: [string, string][] = [
    ['a flipped payload character', lines.map((line, index) => (index === lastBody ? flip(line, 10) : line)).join('\n')],
    ['a flipped header character', lines.map((line, index) => (index === 1 ? flip(line, 40) : line)).join('\n')],
    ['a truncated file', lines.slice(0, 2).concat(lines.slice(-2)).join('\n')],
    ['not armor at all', 'garbage'],
  ];
  for (const [what, value] of variants) {
    const tampered = { ...encrypted, metadata: { ...encrypted.metadata, annotations: { ...encrypted.metadata.annotations, [encryptedDataAnnotation]: value } } };
    await t.throwsAsync(decryptSecret(tampered, [identity]), { instanceOf: SecretEncryptionError, message: /cannot decrypt Secret shop\/db: .*(tampered|none of the 1 age identities)/ }, what);
  }
  // A flipped payload character can only be tampering (the header still matches the identity).
  const payloadTampered = { ...encrypted, metadata: { ...encrypted.metadata, annotations: { ...encrypted.metadata.annotations, [encryptedDataAnnotation]: variants[0]?.[1] ?? '' } } };
  await t.throwsAsync(decryptSecret(payloadTampered, [identity]), { message: /annotation is corrupted or was tampered with/ });
});

test('ciphertext moved to another Secret is refused', async (t) => {
  const { identity, recipient } = await keyPair();
  const encrypted = await encryptSecret(secret({ password: b64(plaintexts.password) }), [recipient], hashKey);
  const moved = { ...encrypted, metadata: { ...encrypted.metadata, name: 'public-config', namespace: 'web' } };
  await t.throwsAsync(decryptSecret(moved, [identity]), { message: 'cannot decrypt Secret web/public-config: its encrypted data belongs to Secret shop/db; the mirror file was altered' });
});
