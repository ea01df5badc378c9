// The OAuth2 assertion: an RS256-signed JWT that Google's token endpoint trades
// for an access token (the "JWT bearer" grant, RFC 7523). node:crypto only.
import { sign } from 'node:crypto';
import { base64url } from '../encoding.js';
import type { ServiceAccount } from './credentials.js';

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/** Google accepts assertions that live at most an hour. */
const ASSERTION_LIFETIME_S = 3600;

/** A signed assertion issued at `nowSeconds` (seconds since the epoch). A secret: never log it. */
export function signAssertion(account: ServiceAccount, nowSeconds: number): string {
  const header = account.privateKeyId === undefined
    ? { alg: 'RS256', typ: 'JWT' }
    : { alg: 'RS256', typ: 'JWT', kid: account.privateKeyId };
  const claims = {
    iss: account.clientEmail,
    scope: FCM_SCOPE,
    aud: account.tokenUri,
    iat: nowSeconds,
    exp: nowSeconds + ASSERTION_LIFETIME_S,
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), account.privateKey);
  return `${signingInput}.${base64url(signature)}`;
}
