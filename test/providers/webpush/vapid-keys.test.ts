// VAPID keys as web-push prints them or as a PEM; a mismatched or unusable
// pair is a ConfigError that names the field, never the key.
import assert from 'node:assert/strict';
import { createECDH, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import webpush from 'web-push';
import { ConfigError } from '../../../src/errors.js';
import { loadVapidKeys } from '../../../src/providers/webpush/vapid-keys.js';

describe('loadVapidKeys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gocm-vapid-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const write = (text: string) => {
    const path = join(dir, `key-${(files += 1)}`);
    writeFileSync(path, text);
    return path;
  };
  const refused = (pattern: RegExp, secret?: string) => (error: unknown) =>
    error instanceof ConfigError && pattern.test(error.message) && (secret === undefined || !error.message.includes(secret));

  test('the base64url scalar of web-push generate-vapid-keys, with its newline', () => {
    const keys = webpush.generateVAPIDKeys();
    assert.deepEqual(loadVapidKeys(keys.publicKey, write(`${keys.privateKey}\n`)), keys);
  });

  test('a PEM, SEC 1 or PKCS #8', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]).toString('base64url');
    const d = privateKey.export({ format: 'jwk' }).d;
    for (const type of ['sec1', 'pkcs8'] as const) {
      const pem = privateKey.export({ type, format: 'pem' }).toString();
      assert.deepEqual(loadVapidKeys(point, write(pem)), { publicKey: point, privateKey: d });
    }
  });

  test('a public key that is not the private key’s half', () => {
    const mine = webpush.generateVAPIDKeys();
    const other = webpush.generateVAPIDKeys();
    assert.throws(() => loadVapidKeys(other.publicKey, write(mine.privateKey)), refused(/^"vapid_public_key" is not the public half of the key in "vapid_private_key_file"/, mine.privateKey));
  });

  test('a public key that is no P-256 point', () => {
    assert.throws(() => loadVapidKeys('BAAA', write(webpush.generateVAPIDKeys().privateKey)), refused(/^"vapid_public_key" is not a base64url P-256 public key/));
  });

  test('an unreadable file', () => {
    assert.throws(() => loadVapidKeys(webpush.generateVAPIDKeys().publicKey, join(dir, 'none')), refused(/^"vapid_private_key_file" .*none: cannot read it \(ENOENT\)/));
  });

  test('a file that holds neither form: garbage, 31 bytes, a P-384 PEM, the zero scalar', () => {
    const { publicKey } = webpush.generateVAPIDKeys();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (const text of ['not a key!', Buffer.alloc(31, 1).toString('base64url'), p384, Buffer.alloc(32).toString('base64url')]) {
      assert.throws(() => loadVapidKeys(publicKey, write(text)), refused(/^"vapid_private_key_file" .*: is not a P-256 private key/, text.length > 20 ? text.slice(0, 40) : undefined));
    }
  });

  test('the public key is what createECDH derives', () => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const keys = loadVapidKeys(ecdh.getPublicKey().toString('base64url'), write(ecdh.getPrivateKey().toString('base64url')));
    assert.equal(keys.publicKey, ecdh.getPublicKey().toString('base64url'));
  });
});
