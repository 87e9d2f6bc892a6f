// age v1 (age-encryption.org/v1) for X25519 recipients and identities, on node:crypto. The age-encryption package
// does the same through WebCrypto and web streams at about 1.4 ms per Secret encrypted and 0.9 ms decrypted (one
// core, `npx node .scratch/agebench.ts`), a tenth of an initial sync's CPU; this is about ten times faster. Files
// are interchangeable both ways (test/unit/age.test.ts checks against the package). Other recipient types
// (post-quantum hybrid, passphrases) are left to the package: these functions return undefined for them.
//
// X25519 is node:crypto's (native); HKDF, HMAC and ChaCha20-Poly1305 are @noble's, because node:crypto's versions
// cost about 60 µs a call on Node 24 for 32-byte inputs (each call tells a Buffer key from a KeyObject by throwing).
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

const version = 'age-encryption.org/v1';
const x25519Label = 'age-encryption.org/v1/X25519';
const chunkSize = 64 * 1024;
const tagSize = 16;
const armorBegin = '-----BEGIN AGE ENCRYPTED FILE-----';
const armorEnd = '-----END AGE ENCRYPTED FILE-----';
// DER framing of a raw X25519 key (RFC 8410), so node:crypto takes the 32 bytes age carries.
const pkcs8Prefix = Buffer.from('302e020100300506032b656e04220420', 'hex');
const spkiPrefix = Buffer.from('302a300506032b656e032100', 'hex');

export interface X25519Recipient {
  raw: Buffer;
  key: KeyObject;
}

export interface X25519Identity {
  key: KeyObject;
  /** The identity's public key (its recipient), raw. */
  recipient: Buffer;
}

/** An `age1...` X25519 recipient, or undefined when the text is not one (another type, or invalid). */
export function parseX25519Recipient(text: string): X25519Recipient | undefined {
  const decoded = bech32Decode(text);
  if (!decoded || decoded.hrp !== 'age' || decoded.bytes.length !== 32) return undefined;
  return { raw: decoded.bytes, key: publicKeyOf(decoded.bytes) };
}

/** An `AGE-SECRET-KEY-1...` X25519 identity, or undefined when the text is not one. */
export function parseX25519Identity(text: string): X25519Identity | undefined {
  const decoded = bech32Decode(text);
  if (!decoded || decoded.hrp !== 'age-secret-key-' || decoded.bytes.length !== 32) return undefined;
  const key = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, decoded.bytes]), format: 'der', type: 'pkcs8' });
  return { key, recipient: rawPublicKey(createPublicKey(key)) };
}

/** The age file of `plaintext` for every recipient. */
export function encrypt(plaintext: Uint8Array, recipients: readonly X25519Recipient[]): Buffer {
  if (recipients.length === 0) throw new Error('age: no recipients');
  const fileKey = randomBytes(16);
  let header = `${version}\n`;
  for (const recipient of recipients) {
    const ephemeral = generateKeyPairSync('x25519');
    const share = rawPublicKey(ephemeral.publicKey);
    const wrapKey = hkdf(sharedSecret(ephemeral.privateKey, recipient.key), Buffer.concat([share, recipient.raw]), x25519Label);
    header += `-> X25519 ${base64(share)}\n${wrapLines(base64(seal(wrapKey, Buffer.alloc(12), fileKey)))}`;
  }
  header += '---';
  const mac = hmac(sha256, hkdf(fileKey, Buffer.alloc(0), 'header'), Buffer.from(header, 'latin1'));
  const nonce = randomBytes(16);
  const streamKey = hkdf(fileKey, nonce, 'payload');
  const parts: Buffer[] = [Buffer.from(`${header} ${base64(mac)}\n`), nonce];
  for (let offset = 0, counter = 0; ; counter++) {
    const end = Math.min(offset + chunkSize, plaintext.length);
    const last = end === plaintext.length;
    parts.push(seal(streamKey, chunkNonce(counter, last), plaintext.subarray(offset, end)));
    if (last) break;
    offset = end;
  }
  return Buffer.concat(parts);
}

/**
 * The plaintext of an age file, or undefined when none of its X25519 stanzas is for one of `identities` (it may be
 * for a recipient type left to the age-encryption package). Throws when the file is malformed or was altered.
 */
export function decrypt(file: Uint8Array, identities: readonly X25519Identity[]): Buffer | undefined {
  const data = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const { stanzas, headerNoMac, mac, payloadStart } = parseHeader(data);
  let fileKey: Buffer | undefined;
  for (const stanza of stanzas) {
    if (stanza.args[0] !== 'X25519') continue;
    if (stanza.args.length !== 2) throw new Error('invalid X25519 stanza');
    const share = decodeBase64(stanza.args[1]!);
    if (share.length !== 32 || stanza.body.length !== 32) throw new Error('invalid X25519 stanza');
    const peer = publicKeyOf(share);
    for (const identity of identities) {
      const wrapKey = hkdf(sharedSecret(identity.key, peer), Buffer.concat([share, identity.recipient]), x25519Label);
      fileKey = open(wrapKey, Buffer.alloc(12), stanza.body);
      if (fileKey) break;
    }
    if (fileKey) break;
  }
  if (!fileKey) return undefined;
  if (fileKey.length !== 16) throw new Error('invalid file key');
  const expected = hmac(sha256, hkdf(fileKey, Buffer.alloc(0), 'header'), headerNoMac);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw new Error('invalid header HMAC');
  if (data.length < payloadStart + 16) throw new Error('truncated payload');
  const nonce = data.subarray(payloadStart, payloadStart + 16);
  const streamKey = hkdf(fileKey, nonce, 'payload');
  const payload = data.subarray(payloadStart + 16);
  if (payload.length < tagSize) throw new Error('truncated payload');
  const chunks: Buffer[] = [];
  for (let offset = 0, counter = 0; offset < payload.length; counter++) {
    const end = Math.min(offset + chunkSize + tagSize, payload.length);
    const last = end === payload.length;
    const chunk = open(streamKey, chunkNonce(counter, last), payload.subarray(offset, end));
    if (!chunk) throw new Error('payload authentication failed');
    if (last && chunk.length === 0 && counter > 0) throw new Error('empty last chunk');
    chunks.push(chunk);
    offset = end;
  }
  return Buffer.concat(chunks);
}

/** ASCII armor (PEM-like, 64 columns), as `age --armor` writes it. */
export function armor(file: Uint8Array): string {
  const text = Buffer.from(file.buffer, file.byteOffset, file.byteLength).toString('base64');
  const lines: string[] = [];
  for (let offset = 0; offset < text.length; offset += 64) lines.push(text.slice(offset, offset + 64));
  return `${armorBegin}\n${lines.join('\n')}${lines.length ? '\n' : ''}${armorEnd}\n`;
}

export function dearmor(text: string): Buffer {
  const lines = text.trim().split(/\r?\n/);
  if (lines[0] !== armorBegin || lines.at(-1) !== armorEnd) throw new Error('invalid armor: missing the AGE ENCRYPTED FILE lines');
  const body = lines.slice(1, -1);
  if (body.some((line, index) => line.length > 64 || (index < body.length - 1 && line.length !== 64))) throw new Error('invalid armor: lines must be 64 columns');
  const joined = body.join('');
  const bytes = Buffer.from(joined, 'base64');
  if (bytes.toString('base64') !== joined) throw new Error('invalid armor: not canonical base64');
  return bytes;
}

interface Stanza {
  args: string[];
  body: Buffer;
}

function parseHeader(data: Buffer): { stanzas: Stanza[]; headerNoMac: Buffer; mac: Buffer; payloadStart: number } {
  let position = 0;
  const line = (): string => {
    const end = data.indexOf(0x0a, position);
    if (end < 0) throw new Error('invalid header: unterminated line');
    const text = data.toString('latin1', position, end);
    position = end + 1;
    return text;
  };
  if (line() !== version) throw new Error('invalid header: not an age v1 file');
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = position;
    const text = line();
    if (text.startsWith('--- ')) {
      return { stanzas, headerNoMac: data.subarray(0, start + 3), mac: decodeBase64(text.slice(4)), payloadStart: position };
    }
    if (!text.startsWith('-> ')) throw new Error('invalid header: expected a stanza or the MAC line');
    const args = text.slice(3).split(' ');
    if (args.some((arg) => arg.length === 0)) throw new Error('invalid header: empty stanza argument');
    let body = '';
    for (;;) {
      const bodyLine = line();
      if (bodyLine.length > 64) throw new Error('invalid header: stanza body line longer than 64 columns');
      body += bodyLine;
      if (bodyLine.length < 64) break;
    }
    stanzas.push({ args, body: decodeBase64(body) });
  }
}

function publicKeyOf(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' }); // JWK: faster than DER here
}

function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(spkiPrefix.length);
}

function sharedSecret(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  const secret = diffieHellman({ privateKey, publicKey });
  if (secret.every((byte) => byte === 0)) throw new Error('X25519: low-order point');
  return secret;
}

const labels = new Map<string, Uint8Array>();

function hkdf(key: Uint8Array, salt: Uint8Array, info: string): Uint8Array {
  let label = labels.get(info);
  if (!label) labels.set(info, (label = Buffer.from(info, 'latin1')));
  return nobleHkdf(sha256, key, salt, label, 32);
}

function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const sealed = chacha20poly1305(key, nonce).encrypt(plaintext);
  return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
}

function open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < tagSize) return undefined;
  try {
    const plaintext = chacha20poly1305(key, nonce).decrypt(sealed);
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  } catch {
    return undefined;
  }
}

/** STREAM nonce: an 11-byte big-endian chunk counter and a last-chunk flag. */
function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** Canonical unpadded base64, as age requires. */
function decodeBase64(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (base64(bytes) !== text) throw new Error('invalid header: not canonical base64');
  return bytes;
}

/** A stanza body: 64-column lines, the last one shorter (empty when the text fills its lines). */
function wrapLines(text: string): string {
  let out = '';
  let offset = 0;
  for (; offset + 64 <= text.length; offset += 64) out += `${text.slice(offset, offset + 64)}\n`;
  return `${out}${text.slice(offset)}\n`;
}

const bech32Alphabet = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const bech32Generators = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** Bech32 (BIP 173, without its length limit, as age uses it); undefined when malformed or the checksum fails. */
function bech32Decode(text: string): { hrp: string; bytes: Buffer } | undefined {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) return undefined;
  const lower = text.toLowerCase();
  const separator = lower.lastIndexOf('1');
  if (separator < 1 || separator + 7 > lower.length) return undefined;
  const hrp = lower.slice(0, separator);
  const values: number[] = [];
  for (const char of lower.slice(separator + 1)) {
    const value = bech32Alphabet.indexOf(char);
    if (value < 0) return undefined;
    values.push(value);
  }
  let checksum = 1;
  const step = (value: number) => {
    const top = checksum >>> 25;
    checksum = (((checksum & 0x1ffffff) << 5) ^ value) >>> 0;
    for (let bit = 0; bit < 5; bit++) if ((top >>> bit) & 1) checksum = (checksum ^ bech32Generators[bit]!) >>> 0;
  };
  for (const char of hrp) step(char.charCodeAt(0) >>> 5);
  step(0);
  for (const char of hrp) step(char.charCodeAt(0) & 31);
  for (const value of values) step(value);
  if (checksum !== 1) return undefined;
  // 5-bit groups to bytes; what is left over must be fewer than 5 zero bits.
  const bytes: number[] = [];
  let accumulator = 0;
  let bits = 0;
  for (const value of values.slice(0, -6)) {
    accumulator = (accumulator << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((accumulator >>> bits) & 0xff);
    }
  }
  if (bits >= 5 || (accumulator & ((1 << bits) - 1)) !== 0) return undefined;
  return { hrp, bytes: Buffer.from(bytes) };
}
