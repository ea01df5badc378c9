// The Google service-account file: read once, checked, and kept as a KeyObject
// so the private key never travels as a string past this module.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { errorCode, isObject } from '../../guards.js';

export interface ServiceAccount {
  readonly clientEmail: string;
  /** The key's id, sent as the JWT's `kid`; absent in some hand-made files. */
  readonly privateKeyId: string | undefined;
  readonly privateKey: KeyObject;
  readonly tokenUri: string;
  readonly projectId: string;
}

const REQUIRED = ['private_key', 'client_email', 'token_uri'] as const;

/**
 * Load `path` synchronously; `projectId` (from --project-id) overrides the file's.
 * Every message names the file and the field, never a value from it: a
 * JSON.parse message quotes the text around the fault, which may be the key.
 */
export function loadServiceAccount(path: string, projectId?: string): ServiceAccount {
  const problem = (what: string) => new ConfigError(`service-account file ${path}: ${what}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw problem(`cannot read it (${errorCode(error) ?? 'error'})`);
  }
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    throw problem('is not valid JSON');
  }
  if (!isObject(fields)) throw problem('is not a JSON object');
  if (fields.type !== 'service_account') throw problem('is not a service-account key ("type" must be "service_account")');
  for (const name of REQUIRED) {
    const value = fields[name];
    if (typeof value !== 'string' || value.trim() === '') throw problem(`has no "${name}"`);
  }
  const tokenUri = fields.token_uri as string;
  if (!/^https?:\/\//.test(tokenUri) || !URL.canParse(tokenUri)) throw problem('"token_uri" is not an http(s) URL');
  const project = projectId || (typeof fields.project_id === 'string' ? fields.project_id : '');
  if (!project) throw problem('has no "project_id"; give --project-id');

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(fields.private_key as string);
  } catch {
    throw problem('"private_key" is not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw problem('"private_key" is not an RSA key (RS256 needs one)');

  return Object.freeze({
    clientEmail: fields.client_email as string,
    privateKeyId: typeof fields.private_key_id === 'string' && fields.private_key_id ? fields.private_key_id : undefined,
    privateKey,
    tokenUri,
    projectId: project,
  });
}
