// gocmctl vapid-keys: a key pair gocmd accepts, the private half in a new
// 0600 file, the public half printed; an existing file is never replaced.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadVapidKeys } from '../../src/providers/webpush/vapid-keys.js';
import { GOCMCTL, run, tempDir } from '../support/daemon.js';

describe('gocmctl vapid-keys', () => {
  const dir = tempDir('gocmctl-vapid-');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctl = (args: readonly string[]) => run(process.execPath, [GOCMCTL, 'vapid-keys', ...args], { env: { PATH: process.env.PATH } });

  test('writes the private key with mode 0600 and prints the matching public key', async () => {
    const file = join(dir, 'vapid.key');
    const { code, stdout, stderr } = await ctl(['--private-key-file', file, '--json']);
    assert.equal(code, 0, stderr);
    const made = JSON.parse(stdout) as { vapid_public_key: string; vapid_private_key_file: string };
    assert.equal(made.vapid_private_key_file, file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
    // What gocmd checks at start: the halves match.
    assert.equal(loadVapidKeys(made.vapid_public_key, file).publicKey, made.vapid_public_key);
  });

  test('never replaces an existing file', async () => {
    const file = join(dir, 'in-use.key');
    writeFileSync(file, 'the key browsers subscribed with\n');
    const { code, stdout, stderr } = await ctl(['--private-key-file', file]);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /exists already/);
    assert.equal(readFileSync(file, 'utf8'), 'the key browsers subscribed with\n');
  });

  test('the file is required', async () => {
    const { code, stderr } = await ctl([]);
    assert.equal(code, 2);
    assert.match(stderr, /private-key-file/);
  });
});
