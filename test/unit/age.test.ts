// The node:crypto age implementation (src/util/age.ts) against the age-encryption package, the reference it must
// interoperate with: files written by either are read by the other, byte for byte, across chunk boundaries.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Decrypter, Encrypter, armor as packageArmor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { armor, dearmor, decrypt, encrypt, parseX25519Identity, parseX25519Recipient } from '../../src/util/age.ts';

async function keyPair() {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  return { identity, recipient, parsedIdentity: parseX25519Identity(identity)!, parsedRecipient: parseX25519Recipient(recipient)! };
}

// Around the 64 KiB STREAM chunk: empty, one byte, one short of a chunk, exactly one, one over, several.
const sizes = [0, 1, 65_535, 65_536, 65_537, 200_000];

test('keys: an identity parses, and its public key is the recipient age-keygen would print', async (t) => {
  const { parsedIdentity, parsedRecipient } = await keyPair();
  t.truthy(parsedIdentity);
  t.truthy(parsedRecipient);
  t.true(parsedIdentity.recipient.equals(parsedRecipient.raw));
});

test('files this module writes are read by the age-encryption package', async (t) => {
  const { identity, parsedRecipient } = await keyPair();
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  for (const size of sizes) {
    const plaintext = randomBytes(size);
    const armored = armor(encrypt(plaintext, [parsedRecipient]));
    t.true(Buffer.from(await decrypter.decrypt(packageArmor.decode(armored))).equals(plaintext), `${size} bytes`);
    t.is(packageArmor.encode(packageArmor.decode(armored)), armored, `${size} bytes: the same armor`);
  }
});

test('files the age-encryption package writes are read by this module', async (t) => {
  const { recipient, parsedIdentity } = await keyPair();
  for (const size of sizes) {
    const plaintext = randomBytes(size);
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    const armored = packageArmor.encode(await encrypter.encrypt(plaintext));
    t.true(decrypt(dearmor(armored), [parsedIdentity])?.equals(plaintext), `${size} bytes`);
  }
});

test('several recipients: each identity decrypts; a stranger gets undefined (left to the package), not garbage', async (t) => {
  const [first, second, stranger] = await Promise.all([keyPair(), keyPair(), keyPair()]);
  const file = encrypt(Buffer.from('shared secret'), [first!.parsedRecipient, second!.parsedRecipient]);
  t.is(decrypt(file, [first!.parsedIdentity])?.toString(), 'shared secret');
  t.is(decrypt(file, [stranger!.parsedIdentity, second!.parsedIdentity])?.toString(), 'shared secret');
  t.is(decrypt(file, [stranger!.parsedIdentity]), undefined);
  // Randomized: the same plaintext never gives the same file.
  t.false(encrypt(Buffer.from('x'), [first!.parsedRecipient]).equals(encrypt(Buffer.from('x'), [first!.parsedRecipient])));
});

test('an altered file is refused: header MAC, stanza, payload, truncation', async (t) => {
  const { parsedIdentity, parsedRecipient } = await keyPair();
  const file = encrypt(Buffer.from('{"v":1}'), [parsedRecipient]);
  const headerEnd = file.indexOf('\n---') + 1;
  const flip = (position: number) => {
    const copy = Buffer.from(file);
    copy[position]! ^= 1;
    return copy;
  };
  // The stanza's share, changed to another valid base64 letter (another key: no identity matches); a bit flip
  // there can also make a letter that is not base64, which the header check refuses instead.
  const share = file.indexOf('X25519 ') + 10;
  const withByte = (value: number) => {
    const copy = Buffer.from(file);
    copy[share] = value;
    return copy;
  };
  t.is(decrypt(withByte(file[share] === 0x41 ? 0x42 : 0x41), [parsedIdentity]), undefined);
  t.throws(() => decrypt(withByte(0x2a), [parsedIdentity]), { message: /not canonical base64/ });
  // The MAC itself.
  t.throws(() => decrypt(flip(headerEnd + 6), [parsedIdentity]));
  t.throws(() => decrypt(flip(file.length - 5), [parsedIdentity]), { message: /payload authentication/ });
  t.throws(() => decrypt(file.subarray(0, file.length - 20), [parsedIdentity]));
  t.throws(() => decrypt(Buffer.from('age-encryption.org/v2\n'), [parsedIdentity]), { message: /not an age v1 file/ });
  t.throws(() => dearmor('-----BEGIN AGE ENCRYPTED FILE-----\nnot base64!\n-----END AGE ENCRYPTED FILE-----\n'));
});

test('keys that are not X25519 age keys are not taken', async (t) => {
  const { identity, recipient } = await keyPair();
  t.is(parseX25519Recipient(`${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`), undefined, 'checksum');
  t.is(parseX25519Recipient(recipient.slice(0, 10) + recipient.slice(10).toUpperCase()), undefined, 'mixed case');
  t.is(parseX25519Recipient(identity), undefined, 'an identity is not a recipient');
  t.is(parseX25519Identity(recipient), undefined, 'a recipient is not an identity');
  t.is(parseX25519Recipient('age1'), undefined);
  t.truthy(parseX25519Identity(identity.toLowerCase()), 'bech32 is case-insensitive when not mixed');
});
