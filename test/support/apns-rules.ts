// What APNs checks in a request before it looks at the device, as pure
// functions: the path, Apple's headers, the payload, the provider token.
// Each refusal carries Apple's status and reason string:
// https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
// https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
import type { KeyObject } from 'node:crypto';
import { decodeJwt, verifiesEs256 } from './es256.js';
import { refuse, type Refusal } from './refusal.js';

export interface ApnsVerificationKey {
  readonly keyId: string;
  readonly teamId: string;
  readonly publicKey: KeyObject;
}

export interface ApnsHeaders {
  readonly topic: string;
  readonly pushType: string | undefined;
  readonly priority: number | undefined;
  readonly expiration: number | undefined;
  readonly collapseId: string | undefined;
  readonly apnsId: string | undefined;
}

export interface ProviderToken {
  readonly jwt: string;
  readonly kid: string;
  readonly iss: string;
  readonly iat: number;
}


const DEVICE_PATH = '/3/device/';
const DEVICE_TOKEN = /^[0-9a-fA-F]{64}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Apple's apns-push-type values; a watchOS 6+ device requires the header, the others only recommend it.
const PUSH_TYPES = new Set(['alert', 'background', 'controls', 'location', 'voip', 'complication', 'fileprovider', 'mdm', 'liveactivity', 'pushtotalk', 'widgets']);
// 10 sends at once, 5 with the device's power in mind, 1 power first: Apple lists all three.
const PRIORITIES = new Set(['1', '5', '10']);
const HEADERS_ONCE = ['authorization', 'apns-topic', 'apns-push-type', 'apns-priority', 'apns-expiration', 'apns-collapse-id', 'apns-id'];
const MAX_COLLAPSE_ID_BYTES = 64;
const PROVIDER_TOKEN_LIFETIME_S = 3600;
/** Leeway for clocks ahead of ours; an iat far in the future (milliseconds, say) is no token. */
const CLOCK_SKEW_S = 60;

export function deviceTokenOf(method: string, path: string): string | Refusal {
  if (method !== 'POST') return refuse(405, 'MethodNotAllowed');
  const pathname = path.split('?', 1)[0] ?? '';
  if (!pathname.startsWith(DEVICE_PATH)) return refuse(404, 'BadPath');
  const token = pathname.slice(DEVICE_PATH.length);
  if (token === '') return refuse(400, 'MissingDeviceToken');
  if (!DEVICE_TOKEN.test(token)) return refuse(400, 'BadDeviceToken');
  return token;
}

/** `rawHeaders` is node's flat [name, value, …] list, where repeats are still visible. */
export function duplicateHeader(rawHeaders: readonly string[]): Refusal | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    if (!HEADERS_ONCE.includes(name)) continue;
    if (seen.has(name)) return refuse(400, 'DuplicateHeaders');
    seen.add(name);
  }
  return undefined;
}

export function parseApnsHeaders(header: (name: string) => string | undefined): ApnsHeaders | Refusal {
  const topic = header('apns-topic');
  // With token-based auth the topic is always required: the key is not tied to one app.
  if (!topic) return refuse(400, 'MissingTopic');
  const pushType = header('apns-push-type');
  if (pushType !== undefined && !PUSH_TYPES.has(pushType)) return refuse(400, 'InvalidPushType');
  const priority = header('apns-priority');
  if (priority !== undefined && !PRIORITIES.has(priority)) return refuse(400, 'BadPriority');
  const expiration = header('apns-expiration');
  if (expiration !== undefined && !/^\d{1,10}$/.test(expiration)) return refuse(400, 'BadExpirationDate');
  const apnsId = header('apns-id');
  if (apnsId !== undefined && !UUID.test(apnsId)) return refuse(400, 'BadMessageId');
  const collapseId = header('apns-collapse-id');
  if (collapseId !== undefined && Buffer.byteLength(collapseId) > MAX_COLLAPSE_ID_BYTES) return refuse(400, 'BadCollapseId');
  return {
    topic,
    pushType,
    priority: priority === undefined ? undefined : Number(priority),
    expiration: expiration === undefined ? undefined : Number(expiration),
    collapseId,
    apnsId,
  };
}

/** VoIP payloads may take 5 KB, every other kind 4 KB. */
export const maxPayloadBytes = (pushType: string | undefined): number => (pushType === 'voip' ? 5120 : 4096);

export function parsePayload(body: Buffer, pushType: string | undefined): Record<string, unknown> | Refusal {
  if (body.length > maxPayloadBytes(pushType)) return refuse(413, 'PayloadTooLarge');
  if (body.length === 0) return refuse(400, 'PayloadEmpty');
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    payload = undefined;
  }
  // Apple's table names no reason for a body that is not a JSON dictionary
  // with `aps`; this one is deliberately not Apple's, so a client must handle
  // a 400 whose reason it does not know.
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return refuse(400, 'BadPayload');
  const { aps } = payload as Record<string, unknown>;
  if (typeof aps !== 'object' || aps === null || Array.isArray(aps)) return refuse(400, 'BadPayload');
  return payload as Record<string, unknown>;
}

/**
 * The provider token of `authorization: bearer <JWT>`: header {alg: ES256, kid},
 * claims {iss: team id, iat: seconds}, signed by the key named by kid. This is
 * the costly half (an ECDSA verification); Apple wants a token reused for 20
 * to 60 minutes, so a server verifies each one once and then checks its age.
 * https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns
 */
export function verifyProviderToken(authorization: string | undefined, keys: readonly ApnsVerificationKey[]): ProviderToken | Refusal {
  const jwt = /^bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!jwt) return refuse(403, 'MissingProviderToken');
  const decoded = decodeJwt(jwt);
  if (!decoded) return refuse(403, 'InvalidProviderToken');
  const { kid } = decoded.header;
  const key = keys.find((candidate) => candidate.keyId === kid);
  if (!key || !verifiesEs256(decoded, key.publicKey)) return refuse(403, 'InvalidProviderToken');
  const { iss, iat } = decoded.claims;
  if (iss !== key.teamId || typeof iat !== 'number' || !Number.isInteger(iat)) return refuse(403, 'InvalidProviderToken');
  return { jwt, kid: key.keyId, iss: key.teamId, iat };
}

/** The half that changes with the clock: a token issued over an hour ago is expired. */
export function providerTokenAge(token: ProviderToken, nowMs: number): Refusal | undefined {
  const now = nowMs / 1000;
  if (token.iat > now + CLOCK_SKEW_S) return refuse(403, 'InvalidProviderToken');
  if (token.iat < now - PROVIDER_TOKEN_LIFETIME_S) return refuse(403, 'ExpiredProviderToken');
  return undefined;
}
