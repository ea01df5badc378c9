// What a push service and a browser check in a Web Push request, as pure
// functions over node:crypto alone (not the web-push library, so that the fake
// is an independent check of it): RFC 8030's headers, RFC 8292's VAPID token,
// and RFC 8291's aes128gcm decryption, which the browser does on receipt.
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, type ECDH, type KeyObject } from 'node:crypto';
import { decodeJwt, verifiesEs256 } from './es256.js';
import { refuse, type Refusal } from './refusal.js';

/** The keys a browser makes for one subscription and keeps to itself. */
export interface UserAgentKeys {
  readonly ecdh: ECDH;
  /** The uncompressed P-256 point: the subscription's p256dh. */
  readonly publicKey: Buffer;
  /** 16 random bytes: the subscription's auth. */
  readonly authSecret: Buffer;
}

export function createUserAgentKeys(): UserAgentKeys {
  const ecdh = createECDH('prime256v1');
  return { ecdh, publicKey: ecdh.generateKeys(), authSecret: randomBytes(16) };
}

export interface PushHeaders {
  readonly ttl: number;
  readonly urgency: string | undefined;
  readonly topic: string | undefined;
}

// RFC 8030 §5.3 and §5.4.
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
/** RFC 8030 §7.2: a push service must take at least 4096 bytes of body, header included. */
export const MAX_BODY_BYTES = 4096;

/** `hasBody`: a push without a body (RFC 8030 §5) needs no encryption, so no Content-Encoding. */
export function parsePushHeaders(header: (name: string) => string | undefined, hasBody: boolean): PushHeaders | Refusal {
  const ttl = header('ttl');
  // RFC 8030 §5.2: a request without TTL is refused with 400.
  if (ttl === undefined) return refuse(400, 'missing TTL header');
  if (!/^\d{1,10}$/.test(ttl)) return refuse(400, 'TTL is not delta-seconds');
  const encoding = header('content-encoding');
  if (hasBody && encoding !== 'aes128gcm') return refuse(400, `Content-Encoding must be aes128gcm, not ${encoding ?? 'absent'}`);
  const urgency = header('urgency');
  if (urgency !== undefined && !URGENCIES.has(urgency)) return refuse(400, `bad Urgency ${urgency}`);
  const topic = header('topic');
  if (topic !== undefined && !TOPIC.test(topic)) return refuse(400, 'Topic must be at most 32 characters of the URL-safe base64 alphabet');
  return { ttl: Number(ttl), urgency, topic };
}

export interface VapidClaims {
  readonly aud: string;
  readonly sub: string;
  readonly exp: number;
  /** The application server's public key, base64url: the `k` parameter. */
  readonly k: string;
}

const VAPID_MAX_LIFETIME_S = 24 * 60 * 60;

/** A P-256 public key from its 65-byte uncompressed point, or undefined. */
function pointToKey(point: Buffer): KeyObject | undefined {
  if (point.length !== 65 || point[0] !== 0x04) return undefined;
  try {
    const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function vapidParameters(authorization: string | undefined): Map<string, string> | undefined {
  const credentials = /^vapid\s+(.+)$/i.exec(authorization ?? '')?.[1];
  if (!credentials) return undefined;
  const parameters = new Map<string, string>();
  for (const part of credentials.split(',')) {
    const [name = '', ...value] = part.trim().split('=');
    parameters.set(name.trim().toLowerCase(), value.join('=').trim());
  }
  return parameters;
}

/** A VAPID token whose signature verified against its own `k`. */
export interface SignedVapid {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly k: string;
}

/**
 * RFC 8292 §3: `Authorization: vapid t=<JWT>, k=<public key>`, t signed by k.
 * The costly half (an ECDSA verification), the same for every message an
 * application server signs with one token, so a push service may keep it.
 * Absent: 401; present but wrong: 403 (§4.2).
 */
export function verifyVapidSignature(authorization: string | undefined): SignedVapid | Refusal {
  const parameters = vapidParameters(authorization);
  const t = parameters?.get('t');
  const k = parameters?.get('k');
  if (!t || !k) return refuse(401, 'no vapid authorization');
  const publicKey = pointToKey(Buffer.from(k, 'base64url'));
  if (!publicKey) return refuse(403, 'k is not a P-256 public key');
  const jwt = decodeJwt(t);
  if (!jwt || !verifiesEs256(jwt, publicKey)) return refuse(403, 'bad VAPID signature');
  return { claims: jwt.claims, k };
}

/** The claims, for this push resource and this moment; `expectedKey` is the one the browser subscribed with. */
export function checkVapidClaims(signed: SignedVapid, origin: string, nowMs: number, expectedKey: string | undefined): VapidClaims | Refusal {
  if (expectedKey !== undefined && signed.k !== expectedKey) return refuse(403, 'k is not the key the subscription was made for');
  const { aud, sub, exp } = signed.claims;
  // §2: the audience is the push resource's origin: scheme, host and port.
  if (aud !== origin) return refuse(403, `aud must be ${origin}`);
  if (typeof exp !== 'number') return refuse(403, 'no exp');
  const now = nowMs / 1000;
  if (exp <= now) return refuse(403, 'VAPID token expired');
  if (exp > now + VAPID_MAX_LIFETIME_S) return refuse(403, 'exp more than 24 hours ahead');
  if (typeof sub !== 'string' || !/^(mailto:|https:)/.test(sub)) return refuse(403, 'sub must be a mailto: or https: URL');
  return { aud, sub, exp, k: signed.k };
}

const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer | string, length: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info), length));

const TAG_BYTES = 16;
const HEADER_BYTES = 16 + 4 + 1;
const SENDER_KEY_BYTES = 65;

/**
 * Decrypt an aes128gcm body as the browser does (RFC 8291 §3.4, RFC 8188 §2):
 * header salt(16) | rs(uint32) | idlen(1) | keyid, where keyid is the sender's
 * ephemeral public key; one record, whose padding ends at delimiter 0x02.
 */
export function decryptPush(body: Buffer, keys: UserAgentKeys): Buffer | Refusal {
  if (body.length < HEADER_BYTES) return refuse(400, 'body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20] ?? 0;
  // RFC 8291 §4: keyid carries the sender's key as an uncompressed point.
  if (idlen !== SENDER_KEY_BYTES) return refuse(400, `keyid is ${idlen} bytes, not the sender's 65-byte public key`);
  const senderKey = body.subarray(HEADER_BYTES, HEADER_BYTES + idlen);
  const record = body.subarray(HEADER_BYTES + idlen);
  if (rs < 18) return refuse(400, `record size ${rs} below RFC 8188's minimum of 18`);
  // RFC 8291 §4: a push message is a single record.
  if (record.length > rs) return refuse(400, 'more than one record');
  if (record.length < TAG_BYTES + 1) return refuse(400, 'record shorter than its tag and delimiter');
  let secret: Buffer;
  try {
    secret = keys.ecdh.computeSecret(senderKey);
  } catch {
    return refuse(400, 'keyid is not a P-256 point');
  }
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), keys.publicKey, senderKey]);
  const ikm = hkdf(keys.authSecret, secret, keyInfo, 32);
  const cek = hkdf(salt, ikm, 'Content-Encoding: aes128gcm\0', 16);
  const nonce = hkdf(salt, ikm, 'Content-Encoding: nonce\0', 12);
  let padded: Buffer;
  try {
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - TAG_BYTES));
    padded = Buffer.concat([decipher.update(record.subarray(0, record.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return refuse(400, 'cannot decrypt: wrong keys or auth secret, or a corrupt body');
  }
  return unpad(padded);
}

/** RFC 8188 §2: the plaintext, then the delimiter (2 in the last record), then zeros. */
function unpad(padded: Buffer): Buffer | Refusal {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (end < 0 || padded[end] !== 0x02) return refuse(400, 'the last record lacks its 0x02 padding delimiter');
  return padded.subarray(0, end);
}
