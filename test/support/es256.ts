// Compact JWTs signed with ES256, as APNs provider tokens and VAPID use them:
// split and decode one, and check its signature. Shared by the fake upstreams.
import { verify, type KeyObject } from 'node:crypto';

export interface DecodedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** `b64url(header).b64url(claims)`: what the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The parts of a compact JWS, or undefined when it is not one. */
export function decodeJwt(jwt: string): DecodedJwt | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  const [head = '', body = '', signature = ''] = parts;
  const header = decodeSegment(head);
  const claims = decodeSegment(body);
  if (!header || !claims) return undefined;
  return { header, claims, signingInput: `${head}.${body}`, signature: Buffer.from(signature, 'base64url') };
}

/**
 * JWS carries ECDSA signatures as raw r||s (64 bytes for P-256), not the DER
 * that node signs by default: a DER signature must fail here, as it does at
 * Apple and at the push services (RFC 7518 §3.4).
 */
export function verifiesEs256(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  if (jwt.header.alg !== 'ES256' || jwt.signature.length !== 64) return false;
  try {
    return verify('sha256', Buffer.from(jwt.signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, jwt.signature);
  } catch {
    return false;
  }
}
