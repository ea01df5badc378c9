// The assertion: RS256 over header.claims, verifiable with the account's public key.
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadServiceAccount } from '../../../src/providers/fcm/credentials.js';
import { signAssertion } from '../../../src/providers/fcm/jwt.js';
import { generateServiceAccountKey, TEST_CLIENT_EMAIL, writeServiceAccount } from '../../support/service-account.js';

const TOKEN_URI = 'https://oauth2.googleapis.com/token';

function decode(segment: string | undefined): unknown {
  return JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
}

test('signAssertion: header, claims and an RS256 signature the public key verifies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gocm-jwt-'));
  try {
    const file = writeServiceAccount(dir, { tokenUri: TOKEN_URI });
    const jwt = signAssertion(loadServiceAccount(file.path), 1_700_000_000);
    const [header, claims, signature] = jwt.split('.');
    assert.deepEqual(decode(header), { alg: 'RS256', typ: 'JWT', kid: file.privateKeyId });
    assert.deepEqual(decode(claims), {
      iss: TEST_CLIENT_EMAIL,
      scope: 'https://www.googleapis.com/auth/firebase.messaging',
      aud: TOKEN_URI,
      iat: 1_700_000_000,
      exp: 1_700_003_600,
    });
    const signed = Buffer.from(`${header}.${claims}`);
    assert.ok(verify('sha256', signed, file.publicKey, Buffer.from(signature ?? '', 'base64url')));
    assert.ok(!verify('sha256', signed, generateServiceAccountKey().publicKey, Buffer.from(signature ?? '', 'base64url')), 'another key must not verify it');
    assert.doesNotMatch(jwt, /[+/=]/, 'base64url, unpadded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
