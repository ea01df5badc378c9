// The apps a daemon sends for: read from --apps FILE (SPEC.md "Apps and
// providers") or made from the single-app flags as the app `default`. Every
// problem is a ConfigError naming the file, the app and the field.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { errorCode, isObject } from './guards.js';

interface AppCommon {
  readonly name: string;
  /** Base URL (fcm, apns) or full send URL (gcm); undefined: the service's own. */
  readonly endpoint: string | undefined;
  readonly concurrency: number;
  /** Tokens a second on average; undefined: unlimited. */
  readonly rate: number | undefined;
  readonly dryRun: boolean;
}

export type AppConfig =
  | (AppCommon & { readonly provider: 'fcm'; readonly credentials: string; readonly projectId: string | undefined })
  | (AppCommon & { readonly provider: 'gcm'; /** A secret: never log it. */ readonly apiKey: string })
  | (AppCommon & {
      readonly provider: 'apns';
      readonly keyFile: string;
      readonly keyId: string;
      readonly teamId: string;
      readonly topic: string;
      readonly environment: 'production' | 'sandbox';
    })
  | (AppCommon & { readonly provider: 'webpush'; readonly vapidPublicKey: string; readonly vapidPrivateKeyFile: string; readonly subject: string });

type ProviderName = AppConfig['provider'];

export interface AppsConfig {
  /** The app of a `send` that names none. */
  readonly defaultApp: string;
  readonly apps: readonly AppConfig[];
}

/** What every app takes from the flags unless its entry says otherwise. */
export interface AppDefaults {
  readonly concurrency: number;
  readonly rate: number | undefined;
  readonly dryRun: boolean;
}

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COMMON_FIELDS = ['provider', 'endpoint', 'concurrency', 'rate', 'dry_run'];
const FIELDS: Record<ProviderName, readonly string[]> = {
  fcm: ['credentials', 'project_id'],
  gcm: ['apikey_file'],
  apns: ['key', 'key_id', 'team_id', 'topic', 'environment'],
  webpush: ['vapid_public_key', 'vapid_private_key_file', 'subject'],
};

/** A secret's file, trimmed; ConfigError (with `where`) if it is missing or empty. */
export function readSecretFile(where: string, path: string): string {
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${where}: cannot read ${path}: ${errorCode(error) ?? 'error'}`);
  }
  if (!secret) throw new ConfigError(`${where}: ${path} is empty`);
  return secret;
}

/** Read and check the apps file. Throws ConfigError naming the app and the field at fault. */
export function loadAppsFile(path: string, defaults: AppDefaults): AppsConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--apps: cannot read ${path}: ${errorCode(error) ?? 'error'}`);
  }
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the fault, and the file may name secrets' paths: say no more.
    throw new ConfigError(`--apps: ${path} is not valid JSON`);
  }
  return parseApps(file, defaults, `--apps ${path}`);
}

/** Check an apps file's content; `where` starts every message. */
function parseApps(file: unknown, defaults: AppDefaults, where: string): AppsConfig {
  if (!isObject(file)) throw new ConfigError(`${where}: must be a JSON object with "apps"`);
  for (const key of Object.keys(file)) if (key !== 'apps' && key !== 'default') throw new ConfigError(`${where}: "${key}" is not a field (use "apps" and "default")`);
  if (!isObject(file.apps) || Object.keys(file.apps).length === 0) throw new ConfigError(`${where}: "apps" must be an object naming at least one app`);
  const apps = Object.entries(file.apps).map(([name, entry]) => parseApp(name, entry, defaults, where));
  const names = apps.map((app) => app.name);
  const defaultApp = file.default === undefined ? (names.length === 1 ? names[0] : undefined) : file.default;
  if (typeof defaultApp !== 'string') throw new ConfigError(`${where}: "default" must name one of the apps (${names.join(', ')})`);
  if (!names.includes(defaultApp)) throw new ConfigError(`${where}: "default" names "${defaultApp}", which is not among the apps (${names.join(', ')})`);
  return { defaultApp, apps };
}

function parseApp(name: string, entry: unknown, defaults: AppDefaults, where: string): AppConfig {
  const at = `${where}: app "${name}"`;
  if (!APP_NAME.test(name)) throw new ConfigError(`${at}: a name is 1–64 letters, digits, '.', '_' or '-'`);
  if (!isObject(entry)) throw new ConfigError(`${at}: must be an object`);
  const provider = entry.provider;
  if (provider !== 'fcm' && provider !== 'gcm' && provider !== 'apns' && provider !== 'webpush') {
    throw new ConfigError(`${at}: "provider" must be one of fcm, apns, webpush, gcm`);
  }
  for (const key of Object.keys(entry)) {
    if (!COMMON_FIELDS.includes(key) && !FIELDS[provider].includes(key)) throw new ConfigError(`${at}: "${key}" is not a field of a ${provider} app`);
  }
  const field = new Fields(entry, at);
  const common: AppCommon = {
    name,
    endpoint: field.url('endpoint'),
    concurrency: field.whole('concurrency', 1) ?? defaults.concurrency,
    rate: field.whole('rate', 1) ?? defaults.rate,
    dryRun: field.boolean('dry_run') ?? defaults.dryRun,
  };
  switch (provider) {
    case 'fcm':
      return { ...common, provider, credentials: field.required('credentials'), projectId: field.string('project_id') };
    case 'gcm':
      return { ...common, provider, apiKey: readSecretFile(`${at}: "apikey_file"`, field.required('apikey_file')) };
    case 'apns': {
      const environment = field.string('environment') ?? 'production';
      if (environment !== 'production' && environment !== 'sandbox') throw new ConfigError(`${at}: "environment" must be "production" or "sandbox"`);
      return {
        ...common,
        provider,
        keyFile: field.required('key'),
        keyId: field.required('key_id'),
        teamId: field.required('team_id'),
        topic: field.required('topic'),
        environment,
      };
    }
    case 'webpush': {
      const subject = field.required('subject');
      if (!/^(mailto:|https:\/\/)/.test(subject)) throw new ConfigError(`${at}: "subject" must be a mailto: or https: URL (RFC 8292)`);
      return { ...common, provider, vapidPublicKey: field.required('vapid_public_key'), vapidPrivateKeyFile: field.required('vapid_private_key_file'), subject };
    }
  }
}

/** An app entry's fields, each read with its type checked and its name in the error. */
class Fields {
  constructor(
    private readonly entry: Record<string, unknown>,
    private readonly at: string,
  ) {}

  string(key: string): string | undefined {
    const value = this.entry[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`${this.at}: "${key}" must be a non-empty string`);
    return value;
  }

  required(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw new ConfigError(`${this.at}: "${key}" is missing`);
    return value;
  }

  whole(key: string, min: number): number | undefined {
    const value = this.entry[key];
    if (value === undefined) return undefined;
    if (!Number.isSafeInteger(value) || (value as number) < min) throw new ConfigError(`${this.at}: "${key}" must be a whole number ≥ ${min}`);
    return value as number;
  }

  boolean(key: string): boolean | undefined {
    const value = this.entry[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw new ConfigError(`${this.at}: "${key}" must be true or false`);
    return value;
  }

  url(key: string): string | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) throw new ConfigError(`${this.at}: "${key}" must be an http:// or https:// URL`);
    return value;
  }
}
