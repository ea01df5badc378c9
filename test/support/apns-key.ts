// Test APNs signing keys: a fresh EC P-256 key pair with a key id and team id,
// and its .p8 file shaped like the one Apple's developer portal hands out
// (PKCS#8 PEM, named AuthKey_<KEYID>.p8), written into a given directory.
import { generateKeyPairSync, randomInt, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ApnsKey {
  /** The .p8 file's text. */
  readonly privateKeyPem: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** 10 characters, as Apple's. */
  readonly keyId: string;
  /** 10 characters, as Apple's. */
  readonly teamId: string;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const appleId = () => Array.from({ length: 10 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

export function generateApnsKey(ids: { keyId?: string; teamId?: string } = {}): ApnsKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    privateKey,
    publicKey,
    keyId: ids.keyId ?? appleId(),
    teamId: ids.teamId ?? appleId(),
  };
}

/** Write the key's .p8 file into `dir` and return its path; the caller owns (and removes) `dir`. */
export function writeApnsKey(dir: string, key: ApnsKey): string {
  const path = join(dir, `AuthKey_${key.keyId}.p8`);
  writeFileSync(path, key.privateKeyPem, { mode: 0o600 });
  return path;
}
