// Secrets never travel or rest in plaintext outside the two clusters. The processor encrypts a Secret's data with
// age to the plan's recipients; only the synchronizer decrypts it, in memory, just before applying it.
//
// An encrypted Secret is still a valid Secret manifest, with `data` and `stringData` removed and three annotations:
//   lifeboat.dev/encrypted-data  ASCII-armored age file. Its plaintext is the JSON
//                                {"v":1,"namespace":..,"name":..,"data":{<key>: <base64 value>, ...}} with sorted keys:
//                                `stringData` folded into `data` as the API server does (stringData wins), and the
//                                Secret's namespace and name, checked at decryption so ciphertext moved to another
//                                Secret in the mirror is refused instead of silently applied there.
//   lifeboat.dev/data-hash       `hmac-sha256:<hex>` of the canonical data JSON under the plan's hash key. age is
//                                randomized, so the mirror compares this (and the recipients) to know the plaintext
//                                did not change and keep the ciphertext it already has: no commit for a no-op.
//   lifeboat.dev/encrypted-to    The sorted, comma-separated age recipients, so a person can tell who can decrypt.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { Decrypter, Encrypter, armor } from 'age-encryption';
import { describeRef, parseApiVersion, refOf, type KubeObject } from '../kube/ref.ts';
import * as age from '../util/age.ts';

export const encryptedDataAnnotation = 'lifeboat.dev/encrypted-data';
export const dataHashAnnotation = 'lifeboat.dev/data-hash';
export const encryptedToAnnotation = 'lifeboat.dev/encrypted-to';

const payloadVersion = 1;
const hashPrefix = 'hmac-sha256:';
const minimumHashKeyBytes = 16;

/** A key for the keyed hash of Secret data: at least 16 bytes (a string is taken as UTF-8). */
export type HashKey = string | Uint8Array;

/** A Secret that cannot be encrypted or decrypted, with what to do about it. */
export class SecretEncryptionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretEncryptionError';
  }
}

interface Payload {
  v: number;
  namespace: string;
  name: string;
  data: Record<string, string>;
}

export function isSecret(object: KubeObject): boolean {
  return object.kind === 'Secret' && parseApiVersion(object.apiVersion).group === '';
}

export function isEncryptedSecret(object: KubeObject): boolean {
  return isSecret(object) && typeof object.metadata.annotations?.[encryptedDataAnnotation] === 'string';
}

/** The Secret's data with stringData folded in, as base64 values with sorted keys. */
function plaintextData(secret: KubeObject): Record<string, string> {
  // A Map, not an object: `__proto__` is a valid Secret key and must not be lost to prototype assignment.
  const merged = new Map<string, string>();
  const where = describeRef(refOf(secret));
  for (const [field, encode] of [['data', (value: string) => value], ['stringData', (value: string) => Buffer.from(value, 'utf8').toString('base64')]] as const) {
    const values = secret[field];
    if (values === undefined || values === null) continue;
    if (typeof values !== 'object' || Array.isArray(values)) throw new SecretEncryptionError(`${where}: ${field} is not a map`);
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string') throw new SecretEncryptionError(`${where}: ${field}.${key} is not a string`);
      merged.set(key, encode(value));
    }
  }
  return Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function hashKeyBytes(hashKey: HashKey): Uint8Array {
  const bytes = typeof hashKey === 'string' ? Buffer.from(hashKey, 'utf8') : hashKey;
  if (bytes.length < minimumHashKeyBytes) {
    throw new SecretEncryptionError(`the Secret hash key has ${bytes.length} bytes; use at least ${minimumHashKeyBytes} random bytes`);
  }
  return bytes;
}

/** The keyed hash (`hmac-sha256:<hex>`) of a plaintext Secret's data, stringData folded in. */
export function secretDataHash(secret: KubeObject, hashKey: HashKey): string {
  const canonical = JSON.stringify(plaintextData(secret));
  return hashPrefix + Buffer.from(hmac(sha256, hashKeyBytes(hashKey), Buffer.from(canonical, 'utf8'))).toString('hex');
}

/** Never put a key in a message: a private key pasted where a recipient belongs must not end up in logs. */
function recipientLabel(recipient: string, index: number): string {
  return `recipient ${index + 1} (${recipient.slice(0, 8)}...)`;
}

function normalizedRecipients(recipients: readonly string[], where: string): string[] {
  if (recipients.length === 0) {
    throw new SecretEncryptionError(`cannot encrypt ${where}: no age recipients; list age public keys (age1...) in the plan's secrets.recipients`);
  }
  return recipients.map((recipient, index) => {
    const trimmed = recipient.trim();
    if (/^AGE-SECRET-KEY-/i.test(trimmed)) {
      throw new SecretEncryptionError(`cannot encrypt ${where}: recipient ${index + 1} is an age identity (a private key); use its public key (age1...) and keep the identity secret`);
    }
    try {
      new Encrypter().addRecipient(trimmed);
    } catch (error) {
      throw new SecretEncryptionError(`cannot encrypt ${where}: ${recipientLabel(trimmed, index)} is not a valid age recipient; expected an age public key (age1...) as printed by age-keygen`, { cause: error });
    }
    return trimmed;
  });
}

/**
 * The Secret with its data replaced by an age ciphertext for `recipients` plus the keyed hash of the plaintext.
 * Other fields (type, labels, annotations, immutable) are kept as they are.
 */
export async function encryptSecret(secret: KubeObject, recipients: readonly string[], hashKey: HashKey): Promise<KubeObject> {
  if (!isSecret(secret)) throw new SecretEncryptionError(`cannot encrypt ${secret.apiVersion} ${secret.kind}: only core v1 Secrets are encrypted`);
  const ref = refOf(secret);
  const where = `Secret ${ref.namespace ?? ''}/${ref.name}`;
  if (isEncryptedSecret(secret)) throw new SecretEncryptionError(`${where} is already encrypted`);
  const to = [...new Set(normalizedRecipients(recipients, where))].sort();
  const hash = secretDataHash(secret, hashKey);
  const data = plaintextData(secret);
  const payload: Payload = { v: payloadVersion, namespace: ref.namespace ?? '', name: ref.name, data };
  const plaintext = Buffer.from(JSON.stringify(payload), 'utf8');
  const x25519 = x25519Recipients(to);
  let ciphertext: string;
  if (x25519) ciphertext = age.armor(age.encrypt(plaintext, x25519));
  else {
    const encrypter = new Encrypter();
    for (const recipient of to) encrypter.addRecipient(recipient);
    ciphertext = armor.encode(await encrypter.encrypt(plaintext));
  }
  return withCiphertext(secret, ciphertext, hash, to);
}

/**
 * Keys parsed once per set of recipients or identities (importing a key costs as much as using it), at most 16
 * sets remembered: a plan has one of each.
 */
function remembered<T>(cache: Map<string, T>, keys: readonly string[], build: () => T): T {
  const key = keys.join('\n');
  if (cache.has(key)) return cache.get(key)!;
  const value = build();
  if (cache.size >= 16) cache.clear();
  cache.set(key, value);
  return value;
}

/** Every key parsed as X25519 for the fast path (src/util/age.ts), or undefined when one is of another type. */
function allX25519<T>(parsed: (T | undefined)[]): T[] | undefined {
  return parsed.every((key) => key !== undefined) ? parsed as T[] : undefined;
}

const recipientSets = new Map<string, age.X25519Recipient[] | undefined>();

function x25519Recipients(recipients: readonly string[]): age.X25519Recipient[] | undefined {
  return remembered(recipientSets, recipients, () => allX25519(recipients.map((recipient) => age.parseX25519Recipient(recipient))));
}

/**
 * Where else a Secret's values hide: `kubectl apply` copies the whole manifest, `data` and `stringData` included,
 * into this annotation, and managedFields can name keys. Neither is replicated (normalization drops both), so they
 * are removed before the Secret leaves the source, not after it has been published.
 */
const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

/** The Secret without `data`/`stringData`, carrying `ciphertext`, the data hash and the recipients instead. */
export function withCiphertext(secret: KubeObject, ciphertext: string, hash: string, recipients: readonly string[]): KubeObject {
  const { data: _data, stringData: _stringData, ...rest } = structuredClone(secret);
  const { managedFields: _managedFields, annotations: { [lastAppliedAnnotation]: _lastApplied, ...annotations } = {}, ...metadata } = rest.metadata;
  return {
    ...rest,
    metadata: {
      ...metadata,
      annotations: {
        ...annotations,
        [encryptedDataAnnotation]: ciphertext,
        [dataHashAnnotation]: hash,
        [encryptedToAnnotation]: [...recipients].join(','),
      },
    },
  };
}

interface Decryption {
  /** The identities as X25519 keys for the fast path, when they all are. */
  x25519: age.X25519Identity[] | undefined;
  decrypter: Decrypter;
}

// One per set of identities, not one per Secret: a Decrypter derives each identity's public key when it is added.
const decryptions = new Map<string, Decryption>();

function decryptionFor(identities: readonly string[], where: string): Decryption {
  const trimmed = identities.map((identity) => identity.trim());
  return remembered(decryptions, trimmed, () => {
    const decrypter = new Decrypter();
    for (const [index, identity] of trimmed.entries()) {
      try {
        decrypter.addIdentity(identity);
      } catch (error) {
        throw new SecretEncryptionError(`cannot decrypt ${where}: identity ${index + 1} is not an age identity (expected AGE-SECRET-KEY-1...)`, { cause: error });
      }
    }
    return { decrypter, x25519: allX25519(trimmed.map((identity) => age.parseX25519Identity(identity))) };
  });
}

/** The fast path (X25519 on node:crypto); undefined leaves the file to the age-encryption package, errors included. */
function decryptX25519(armored: string, identities: age.X25519Identity[] | undefined): string | undefined {
  if (!identities) return undefined;
  try {
    return age.decrypt(age.dearmor(armored), identities)?.toString('utf8');
  } catch {
    return undefined;
  }
}

/** The plaintext Secret: `data` restored exactly (stringData folded in), lifeboat's annotations removed. */
export async function decryptSecret(encrypted: KubeObject, identities: readonly string[]): Promise<KubeObject> {
  const ref = refOf(encrypted);
  const where = `Secret ${ref.namespace ?? ''}/${ref.name}`;
  if (!isEncryptedSecret(encrypted)) throw new SecretEncryptionError(`cannot decrypt ${where}: it has no ${encryptedDataAnnotation} annotation`);
  if (identities.length === 0) throw new SecretEncryptionError(`cannot decrypt ${where}: no age identities were given (AGE-SECRET-KEY-1...)`);
  const annotations = encrypted.metadata.annotations ?? {};
  const { decrypter, x25519 } = decryptionFor(identities, where);
  const armored = annotations[encryptedDataAnnotation] ?? '';
  const fast = decryptX25519(armored, x25519);
  if (fast !== undefined) return restored(encrypted, annotations, parsePayload(fast, where), ref, where);

  let file: Uint8Array;
  try {
    file = armor.decode(armored);
  } catch (error) {
    throw tampered(where, error);
  }
  let text: string;
  try {
    text = await decrypter.decrypt(file, 'text');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/no identity matched/.test(message)) {
      const to = annotations[encryptedToAnnotation] ?? 'unknown recipients';
      throw new SecretEncryptionError(`cannot decrypt ${where}: none of the ${identities.length} age identities matches the recipients it was encrypted to (${to}); give the identity of one of them`, { cause: error });
    }
    throw tampered(where, error);
  }

  return restored(encrypted, annotations, parsePayload(text, where), ref, where);
}

function restored(encrypted: KubeObject, annotations: Record<string, string>, payload: Payload, ref: { namespace?: string; name: string }, where: string): KubeObject {
  if (payload.namespace !== (ref.namespace ?? '') || payload.name !== ref.name) {
    throw new SecretEncryptionError(`cannot decrypt ${where}: its encrypted data belongs to Secret ${payload.namespace}/${payload.name}; the mirror file was altered`);
  }
  const { [encryptedDataAnnotation]: _data, [dataHashAnnotation]: _hash, [encryptedToAnnotation]: _to, ...kept } = annotations;
  const { annotations: _annotations, ...metadata } = encrypted.metadata;
  const decrypted: KubeObject = { ...structuredClone(encrypted), metadata: Object.keys(kept).length > 0 ? { ...metadata, annotations: kept } : metadata };
  if (Object.keys(payload.data).length > 0) decrypted.data = payload.data;
  return decrypted;
}

function tampered(where: string, error: unknown): SecretEncryptionError {
  const detail = error instanceof Error ? error.message : String(error);
  return new SecretEncryptionError(`cannot decrypt ${where}: its ${encryptedDataAnnotation} annotation is corrupted or was tampered with (${detail}); restore the file from the mirror's history`, { cause: error });
}

function parsePayload(text: string, where: string): Payload {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    throw new SecretEncryptionError(`cannot decrypt ${where}: the decrypted data is not lifeboat's format`, { cause: error });
  }
  const candidate = payload as Partial<Payload> | null;
  const valid = typeof candidate === 'object' && candidate !== null && candidate.v === payloadVersion
    && typeof candidate.namespace === 'string' && typeof candidate.name === 'string'
    && typeof candidate.data === 'object' && candidate.data !== null && Object.values(candidate.data).every((value) => typeof value === 'string');
  if (!valid) throw new SecretEncryptionError(`cannot decrypt ${where}: the decrypted data is not lifeboat's format version ${payloadVersion}`);
  return candidate as Payload;
}

/**
 * `next` with the ciphertext of `previous` when both hold the same plaintext (equal data hashes) for the same
 * recipients, so an unchanged Secret serializes to the same bytes and the mirror makes no commit.
 */
export function keepPreviousCiphertext(next: KubeObject, previous: KubeObject | undefined): KubeObject {
  if (!previous || !isEncryptedSecret(next) || !isEncryptedSecret(previous)) return next;
  const nextAnnotations = next.metadata.annotations ?? {};
  const previousAnnotations = previous.metadata.annotations ?? {};
  const same = [dataHashAnnotation, encryptedToAnnotation].every((key) => nextAnnotations[key] !== undefined && nextAnnotations[key] === previousAnnotations[key]);
  const sameIdentity = next.metadata.namespace === previous.metadata.namespace && next.metadata.name === previous.metadata.name;
  if (!same || !sameIdentity) return next;
  return { ...next, metadata: { ...next.metadata, annotations: { ...nextAnnotations, [encryptedDataAnnotation]: previousAnnotations[encryptedDataAnnotation] as string } } };
}
