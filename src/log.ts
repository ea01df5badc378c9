// The pino logger: JSON lines on stdout, with every secret-bearing key redacted.
import { pino, type Logger } from 'pino';

/** Keys that may hold a secret anywhere in a log object; pino replaces their values. */
const SECRET_PATHS = [
  'apiKey', '*.apiKey', 'apikey', '*.apikey', 'key', '*.key',
  'private_key', '*.private_key', 'privateKey', '*.privateKey',
  'access_token', '*.access_token', 'accessToken', '*.accessToken',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'assertion', '*.assertion',
];

export type { Logger };

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    { name: 'gocmd', level, base: { pid: process.pid }, redact: { paths: SECRET_PATHS, censor: '[secret]' } },
    destination,
  );
}
