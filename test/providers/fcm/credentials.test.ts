// The service-account file: every unusable file is a ConfigError that names the
// problem and never repeats key material.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { loadServiceAccount } from '../../../src/providers/fcm/credentials.js';
import { generateServiceAccountKey, TEST_CLIENT_EMAIL, TEST_PROJECT_ID, writeServiceAccount, type ServiceAccountKey } from '../../support/service-account.js';

const TOKEN_URI = 'http://127.0.0.1:9/token';

function ecKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

describe('loadServiceAccount', () => {
  let dir: string;
  let key: ServiceAccountKey;
  /** The PEM: no run of it may show up in a message. */
  let keyText: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gocm-credentials-'));
    key = generateServiceAccountKey();
    keyText = key.privateKeyPem;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads a good file, its project id and key id', () => {
    const file = writeServiceAccount(dir, { tokenUri: TOKEN_URI, key, name: 'good.json' });
    const account = loadServiceAccount(file.path);
    assert.equal(account.clientEmail, TEST_CLIENT_EMAIL);
    assert.equal(account.projectId, TEST_PROJECT_ID);
    assert.equal(account.privateKeyId, key.privateKeyId);
    assert.equal(account.tokenUri, TOKEN_URI);
    assert.equal(account.privateKey.asymmetricKeyType, 'rsa');
  });

  test('--project-id overrides the file, and stands in when it has none', () => {
    const file = writeServiceAccount(dir, { tokenUri: TOKEN_URI, key, name: 'no-project.json', fields: { project_id: undefined } });
    assert.equal(loadServiceAccount(file.path, 'other').projectId, 'other');
    assert.throws(() => loadServiceAccount(file.path), (error: Error) => error instanceof ConfigError && /project_id/.test(error.message));
  });

  const badFiles: Array<[string, (key: ServiceAccountKey) => string, RegExp]> = [
    // JSON.parse's own message would quote the start of this: the key.
    ['a bare key instead of JSON', (k) => k.privateKeyPem.split('\n').slice(1).join('\n'), /not valid JSON/],
    ['not JSON (the key in a broken file)', (k) => `{"private_key": "${k.privateKeyPem.replace(/\n/g, '\\n')}", oops}`, /not valid JSON/],
    ['a JSON array', () => '[1,2]', /not a JSON object/],
    ['an authorized_user file', (k) => JSON.stringify({ type: 'authorized_user', private_key: k.privateKeyPem }), /service_account/],
    ['no private_key', () => JSON.stringify({ type: 'service_account', client_email: 'a@b', token_uri: TOKEN_URI }), /"private_key"/],
    ['no client_email', (k) => JSON.stringify({ type: 'service_account', private_key: k.privateKeyPem, token_uri: TOKEN_URI }), /"client_email"/],
    ['no token_uri', (k) => JSON.stringify({ type: 'service_account', private_key: k.privateKeyPem, client_email: 'a@b' }), /"token_uri"/],
    ['a token_uri that is no URL', (k) => JSON.stringify({ type: 'service_account', private_key: k.privateKeyPem, client_email: 'a@b', token_uri: 'oauth2' }), /token_uri/],
    [
      'a private_key that is not PEM',
      (k) => JSON.stringify({ type: 'service_account', project_id: 'p', private_key: k.privateKeyPem.replace(/^-----BEGIN PRIVATE KEY-----/, ''), client_email: 'a@b', token_uri: TOKEN_URI }),
      /not a PEM private key/,
    ],
    [
      'an EC key (RS256 needs RSA)',
      () => JSON.stringify({ type: 'service_account', project_id: 'p', private_key: ecKeyPem(), client_email: 'a@b', token_uri: TOKEN_URI }),
      /not an RSA key/,
    ],
  ];
  for (const [name, content, expected] of badFiles) {
    test(`${name} → ConfigError without key material`, () => {
      const path = join(dir, 'bad.json');
      writeFileSync(path, content(key));
      assert.throws(() => loadServiceAccount(path), (error: Error) => {
        assert.ok(error instanceof ConfigError, `${error.name}: ${error.message}`);
        assert.match(error.message, expected);
        assert.match(error.message, /bad\.json/);
        for (const word of error.message.match(/[A-Za-z0-9+/=]{8,}/g) ?? []) assert.ok(!keyText.includes(word), `the message quotes the key: ${word}`);
        assert.ok(!error.message.includes('PRIVATE KEY'));
        return true;
      });
    });
  }

  test('a missing file → ConfigError naming it', () => {
    assert.throws(() => loadServiceAccount(join(dir, 'absent.json')), (error: Error) => error instanceof ConfigError && /absent\.json.*ENOENT/.test(error.message));
  });
});
