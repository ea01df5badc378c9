// Reaching PostgreSQL: the URL names the server (libpq's PG* variables fill
// what it leaves out), the password comes from PGPASSWORD or the PGPASSFILE
// (never from the URL, which would show in `ps`), and every query has a
// deadline, so that a frozen or lost server makes callers wait seconds, not
// for ever.
import { hostname } from 'node:os';
import pg from 'pg';
import { parse } from 'pg-connection-string';
import pgpass from 'pgpass';
import { ConfigError } from '../../errors.js';
import { errorCode } from '../../guards.js';

/** A query unanswered this long fails, on the client (a frozen server) and on the server (a slow plan). */
export const QUERY_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;

export interface Target {
  readonly config: pg.ClientConfig;
  /** host:port/database, for messages: never the password. */
  readonly where: string;
}

/** The connection settings of `url`. Throws ConfigError for a URL that cannot be used. */
export function targetOf(url: string, env: NodeJS.ProcessEnv = process.env): Target {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(url);
  } catch {
    throw new ConfigError('--spool: the PostgreSQL URL cannot be read');
  }
  if (parsed.password) {
    throw new ConfigError('--spool: the PostgreSQL URL carries a password, which would show in ps and logs: put it in a PGPASSFILE (or $PGPASSWORD) and leave it out of the URL');
  }
  const host = parsed.host || env.PGHOST || 'localhost';
  const port = Number(parsed.port || env.PGPORT || 5432);
  const user = parsed.user || env.PGUSER || env.USER || 'gocm';
  const database = parsed.database || env.PGDATABASE || user;
  const config: pg.ClientConfig = {
    host,
    port,
    user,
    database,
    // Asked for at each connection, so a rotated password file takes effect on the next reconnect.
    password: () => passwordFor({ host, port, user, database }, env),
    application_name: `gocmd ${hostname()}:${process.pid}`,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: QUERY_TIMEOUT_MS,
    // An ack means committed: never let a server default turn that off.
    options: '-c synchronous_commit=on',
    keepAlive: true,
  };
  if (parsed.ssl) config.ssl = parsed.ssl as pg.ClientConfig['ssl'];
  return { config, where: `${host}:${port}/${database}` };
}

/** Asked for only when the server wants a password. */
function passwordFor(info: { host: string; port: number; user: string; database: string }, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.PGPASSWORD !== undefined) return Promise.resolve(env.PGPASSWORD);
  return new Promise((resolve, reject) =>
    pgpass(info, (password) => {
      if (password) return resolve(password);
      reject(new ConfigError(`--spool ${info.host}:${info.port}/${info.database}: the server wants a password for ${info.user} and none was found ($PGPASSFILE, ~/.pgpass or $PGPASSWORD)`));
    }),
  );
}

/** PostgreSQL error codes that mean the settings are wrong, not that the server is away for a while. */
const CONFIGURATION_CODES: Readonly<Record<string, string>> = {
  '28P01': 'the password was refused',
  '28000': 'the role may not connect (pg_hba.conf)',
  '3D000': 'the database does not exist',
  '42501': 'the role lacks a privilege it needs (it must own the schema gocm, or be allowed to create it)',
};

/** A ConfigError for an error that no waiting will fix; undefined for one worth retrying. */
export function configurationProblem(error: unknown, where: string): ConfigError | undefined {
  const code = errorCode(error);
  const meaning = code === undefined ? undefined : CONFIGURATION_CODES[code];
  return meaning ? new ConfigError(`--spool ${where}: ${meaning} (${code})`) : undefined;
}
