// The fleet spool's tables, in their own schema (`gocm`), versioned and
// created or migrated at start under an advisory lock, so that daemons
// starting together take turns. The hot table, tokens, is kept narrow: what
// is final leaves it at once, messages leave for `statuses` when done.
import type { PoolClient } from 'pg';
import { ConfigError } from '../../errors.js';

export const SCHEMA_VERSION = 1;

/** Any constant both sides agree on: the advisory lock of gocm's schema changes. */
const MIGRATION_LOCK = 0x67636d31;

const SCHEMA = `
CREATE TABLE gocm.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE gocm.apps (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE gocm.messages (
  id text PRIMARY KEY,
  app integer NOT NULL,
  accepted_at bigint NOT NULL,
  expires_at bigint,
  token_count integer NOT NULL,
  remaining integer NOT NULL,
  delivered integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  content text NOT NULL
);
CREATE TABLE gocm.tokens (
  row bigserial PRIMARY KEY,
  message text NOT NULL,
  app integer NOT NULL,
  token text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  due_at bigint NOT NULL,
  lease_owner integer,
  lease_until bigint
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
-- Claims walk this index in due order; leased tokens are not in it.
CREATE INDEX tokens_due ON gocm.tokens (app, due_at, message, row) WHERE lease_until IS NULL;
-- Renewing this daemon's leases, and finding those that ran out.
CREATE INDEX tokens_leased ON gocm.tokens (lease_owner, lease_until) WHERE lease_until IS NOT NULL;
CREATE TABLE gocm.statuses (
  id text PRIMARY KEY,
  app integer NOT NULL,
  token_count integer NOT NULL,
  delivered integer NOT NULL,
  failed integer NOT NULL,
  finished_at bigint NOT NULL
);
CREATE INDEX statuses_finished ON gocm.statuses (finished_at);
CREATE TABLE gocm.failures (seq bigserial PRIMARY KEY, message text NOT NULL, token text NOT NULL, reason text NOT NULL);
CREATE INDEX failures_message ON gocm.failures (message);
CREATE TABLE gocm.canonicals (seq bigserial, app integer NOT NULL, original text NOT NULL, canonical text NOT NULL, PRIMARY KEY (app, original));
CREATE TABLE gocm.notregistered (seq bigserial, app integer NOT NULL, token text NOT NULL, PRIMARY KEY (app, token));
CREATE TABLE gocm.daemons (
  id serial PRIMARY KEY,
  name text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at bigint NOT NULL,
  seen_at bigint NOT NULL,
  inflight integer NOT NULL DEFAULT 0
);
INSERT INTO gocm.meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}');
`;

/** Create the schema, or check (and later migrate) the one there. Throws ConfigError when it is not ours or newer. */
export async function migrate(client: PoolClient, where: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const found = await client.query<{ present: boolean }>("SELECT to_regclass('gocm.meta') IS NOT NULL AS present");
    if (!found.rows[0]?.present) {
      await client.query('CREATE SCHEMA IF NOT EXISTS gocm');
      await client.query(SCHEMA);
    } else {
      const version = await client.query<{ value: string }>("SELECT value FROM gocm.meta WHERE key = 'schema_version'");
      const current = Number(version.rows[0]?.value);
      if (!Number.isSafeInteger(current)) throw new ConfigError(`--spool ${where}: the schema gocm holds no gocm spool; use another database or schema`);
      if (current > SCHEMA_VERSION) {
        throw new ConfigError(`--spool ${where}: the spool's schema is version ${current}, newer than this gocm's ${SCHEMA_VERSION}; run a newer gocm`);
      }
      // Migrations from older versions go here, each under the same lock.
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
