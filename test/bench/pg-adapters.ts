// The two PostgreSQL clients the pg-clients benchmark compares, behind one
// small interface. Each is imported by name at run time and described by the
// few members used here, so the benchmark builds and runs with either absent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/daemon.js';

/** The statements every client runs (postgres's tagged templates below repeat them). */
export const SQL = {
  insertBatch: 'INSERT INTO narrow (token) SELECT unnest($1::text[])',
  insertOne: 'INSERT INTO narrow (token) VALUES ($1)',
  // The claim moves due_at past the lease, so the next claim's index scan starts on unclaimed rows.
  claim: `UPDATE claims SET due_at = now() + interval '30 seconds', owner = $1
          WHERE id IN (SELECT id FROM claims WHERE due_at <= now() ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED)
          RETURNING id, token`,
  notify: 'SELECT pg_notify($1, $2)',
} as const;

export interface BenchClient {
  insertBatch(tokens: readonly string[]): Promise<void>;
  insertOne(token: string): Promise<void>;
  /** Rows claimed. */
  claim(owner: string): Promise<number>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
  end(): Promise<void>;
}

export interface Target {
  readonly url: string;
  readonly password: string;
  readonly connections: number;
}

export type Opener = (target: Target) => Promise<BenchClient>;

export function versionOf(name: string): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** The module's default export, or undefined when the package is not installed. */
async function load(name: string): Promise<unknown> {
  try {
    const module = (await import(name)) as { default?: unknown };
    return module.default ?? module;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

// node-postgres, as far as used here.
interface PgResult {
  readonly rowCount: number | null;
}
interface PgConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password: string;
  readonly max?: number;
}
interface PgPool {
  query(config: { name: string; text: string; values: readonly unknown[] }): Promise<PgResult>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}
interface PgClient {
  connect(): Promise<void>;
  query(text: string): Promise<PgResult>;
  on(event: 'notification', listener: (message: { payload?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}
interface PgModule {
  readonly Pool: new (config: PgConfig) => PgPool;
  readonly Client: new (config: PgConfig) => PgClient;
}

/**
 * Fields, not `connectionString`: pg lets the URL's fields override the
 * config's, and a URL without a password counts as an empty one, which
 * overrides `password`.
 */
function pgConfig(target: Target): PgConfig {
  const url = new URL(target.url);
  return { host: url.hostname, port: Number(url.port), user: url.username, database: url.pathname.slice(1), password: target.password };
}

async function openPg(target: Target): Promise<BenchClient> {
  const pg = (await load('pg')) as PgModule;
  const pool = new pg.Pool({ ...pgConfig(target), max: target.connections });
  pool.on('error', () => undefined); // an idle client's error must not end the benchmark
  const listeners: PgClient[] = [];
  // Named: prepared once per connection, as the spool will do with its statements.
  const run = (name: keyof typeof SQL, values: readonly unknown[]) => pool.query({ name, text: SQL[name], values });
  return {
    insertBatch: async (tokens) => void (await run('insertBatch', [tokens])),
    insertOne: async (token) => void (await run('insertOne', [token])),
    claim: async (owner) => (await run('claim', [owner])).rowCount ?? 0,
    async listen(channel, onPayload) {
      const client = new pg.Client(pgConfig(target));
      client.on('error', () => undefined);
      client.on('notification', (message) => onPayload(message.payload ?? ''));
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      listeners.push(client);
    },
    notify: async (channel, payload) => void (await run('notify', [channel, payload])),
    async end() {
      await Promise.all(listeners.map((client) => client.end()));
      await pool.end();
    },
  };
}

// porsager/postgres, as far as used here.
type Rows = Promise<{ readonly count: number }>;
interface Sql {
  (strings: TemplateStringsArray, ...values: readonly unknown[]): Rows;
  listen(channel: string, onPayload: (payload: string) => void): Promise<unknown>;
  end(): Promise<void>;
}
type PostgresFactory = (url: string, options: { pass: string; max: number; onnotice: () => void }) => Sql;

async function openPostgres(target: Target): Promise<BenchClient> {
  const postgres = (await load('postgres')) as PostgresFactory;
  const sql = postgres(target.url, { pass: target.password, max: target.connections, onnotice: () => undefined });
  // SQL's statements as tagged templates, this client's own way (prepared by default, and its
  // cheapest path: sql.unsafe() with the same text cost ~10-40% more CPU per insert here).
  return {
    insertBatch: async (tokens) => void (await sql`INSERT INTO narrow (token) SELECT unnest(${tokens}::text[])`),
    insertOne: async (token) => void (await sql`INSERT INTO narrow (token) VALUES (${token})`),
    claim: async (owner) =>
      (
        await sql`UPDATE claims SET due_at = now() + interval '30 seconds', owner = ${owner}
          WHERE id IN (SELECT id FROM claims WHERE due_at <= now() ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED)
          RETURNING id, token`
      ).count,
    listen: async (channel, onPayload) => void (await sql.listen(channel, onPayload)),
    notify: async (channel, payload) => void (await sql`SELECT pg_notify(${channel}, ${payload})`),
    end: () => sql.end(),
  };
}

/** Each client's opener, or undefined where its package is not installed. */
export async function installedClients(): Promise<Array<{ name: string; open: Opener | undefined }>> {
  return [
    { name: 'pg', open: (await load('pg')) === undefined ? undefined : openPg },
    { name: 'postgres', open: (await load('postgres')) === undefined ? undefined : openPostgres },
  ];
}
