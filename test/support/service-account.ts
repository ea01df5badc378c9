// Test service accounts: a fresh RSA key pair and a key file shaped like the
// ones the Google Cloud console hands out, written into a given directory.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEST_CLIENT_EMAIL = 'gocm-test@gocm-test.iam.gserviceaccount.com';
export const TEST_PROJECT_ID = 'gocm-test';

export interface ServiceAccountKey {
  readonly privateKeyPem: string;
  readonly publicKey: KeyObject;
  readonly privateKeyId: string;
}

export function generateServiceAccountKey(): ServiceAccountKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
    privateKeyId: randomBytes(20).toString('hex'),
  };
}

export interface ServiceAccountFile extends ServiceAccountKey {
  readonly path: string;
  readonly clientEmail: string;
  readonly projectId: string;
}

export interface ServiceAccountOptions {
  readonly tokenUri: string;
  /** Default: a new key. */
  readonly key?: ServiceAccountKey;
  /** Fields to add or replace; `undefined` removes one. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** Default: service-account.json. */
  readonly name?: string;
}

/** Write a service-account JSON file into `dir`; the caller owns (and removes) `dir`. */
export function writeServiceAccount(dir: string, options: ServiceAccountOptions): ServiceAccountFile {
  const key = options.key ?? generateServiceAccountKey();
  const file = {
    type: 'service_account',
    project_id: TEST_PROJECT_ID,
    private_key_id: key.privateKeyId,
    private_key: key.privateKeyPem,
    client_email: TEST_CLIENT_EMAIL,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: options.tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(TEST_CLIENT_EMAIL)}`,
    universe_domain: 'googleapis.com',
    ...options.fields,
  };
  const path = join(dir, options.name ?? 'service-account.json');
  writeFileSync(path, JSON.stringify(file, null, 2), { mode: 0o600 });
  return { ...key, path, clientEmail: TEST_CLIENT_EMAIL, projectId: TEST_PROJECT_ID };
}
