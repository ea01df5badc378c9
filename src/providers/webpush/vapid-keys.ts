// The VAPID key pair of a webpush app (RFC 8292): the public key as the
// browsers subscribed with it, and the private key file, either as
// `web-push generate-vapid-keys` prints it (base64url of the 32-byte scalar)
// or as a PEM. Read once; the halves must match, or every push would be refused.
import { createECDH, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { errorCode } from '../../guards.js';
import { fromBase64url, isP256 } from '../encoding.js';

export interface VapidKeys {
  /** base64url of the 65-byte uncompressed point, as web-push wants it. */
  readonly publicKey: string;
  /** base64url of the 32-byte scalar, as web-push wants it. A secret: never log it. */
  readonly privateKey: string;
}

/** The 32-byte scalar from the file's text; undefined when it is neither form. */
function scalarOf(text: string): Buffer | undefined {
  if (text.startsWith('-----BEGIN')) {
    try {
      const key = createPrivateKey(text);
      if (!isP256(key)) return undefined;
      const { d } = key.export({ format: 'jwk' });
      return d === undefined ? undefined : Buffer.from(d, 'base64url');
    } catch {
      return undefined;
    }
  }
  const scalar = fromBase64url(text);
  return scalar?.length === 32 ? scalar : undefined;
}

/** The uncompressed public point of `scalar`; undefined when it is no P-256 private key (0, or past the order). */
function publicPointOf(scalar: Buffer): Buffer | undefined {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(scalar);
    return ecdh.getPublicKey();
  } catch {
    return undefined;
  }
}

/** Read and check the pair. Messages name the field and the file, never a key's value. */
export function loadVapidKeys(publicKey: string, privateKeyFile: string): VapidKeys {
  const point = fromBase64url(publicKey);
  if (point?.length !== 65 || point[0] !== 0x04) throw new ConfigError('"vapid_public_key" is not a base64url P-256 public key (65 bytes, starting with B)');
  let text: string;
  try {
    text = readFileSync(privateKeyFile, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`"vapid_private_key_file" ${privateKeyFile}: cannot read it (${errorCode(error) ?? 'error'})`);
  }
  const scalar = scalarOf(text);
  const derived = scalar && publicPointOf(scalar);
  if (!scalar || !derived) {
    throw new ConfigError(`"vapid_private_key_file" ${privateKeyFile}: is not a P-256 private key (base64url of 32 bytes, as web-push generate-vapid-keys prints it, or a PEM)`);
  }
  if (!derived.equals(point)) throw new ConfigError(`"vapid_public_key" is not the public half of the key in "vapid_private_key_file" ${privateKeyFile}`);
  return { publicKey: point.toString('base64url'), privateKey: scalar.toString('base64url') };
}
