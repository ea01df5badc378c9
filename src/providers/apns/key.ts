// The APNs signing key: the .p8 file Apple's developer account hands out
// (Keys → a key with the APNs service), read once and kept as a KeyObject so
// that the key itself never travels as a string past this module.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { errorCode } from '../../guards.js';
import { isP256 } from '../encoding.js';

/**
 * Load `path` synchronously. A message names the field and the file, never
 * the file's text: ES256 needs an EC key on P-256, and Apple's are.
 */
export function loadApnsKey(path: string): KeyObject {
  const problem = (what: string) => new ConfigError(`"key" ${path}: ${what}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw problem(`cannot read it (${errorCode(error) ?? 'error'})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw problem('is not a PEM private key (Apple\'s AuthKey_KEYID.p8)');
  }
  if (!isP256(key)) {
    throw problem('is not an EC P-256 key (ES256 needs one; Apple\'s .p8 keys are)');
  }
  return key;
}
