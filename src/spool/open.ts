// Chooses the spool the configuration asks for: `:memory:` keeps nothing across
// restarts (as GoCM); a postgres:// URL is the fleet spool; a URL of any other
// scheme is refused; anything else is the path of the SQLite spool.
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { SpoolLog } from './checkpointer.js';
import { MemorySpool } from './memory.js';
import { DEFAULT_STATUS_POLICY, type Spool, type StatusPolicy } from './spool.js';
import { SqliteSpool } from './sqlite.js';

type SpoolConfig = Pick<Config, 'spool' | 'sync' | 'spoolMax' | 'statusRetentionMs' | 'leaseMs' | 'name'>;

/** Where trouble the spool survives is told. */
export interface OpenLog extends SpoolLog {
  info(details: object, message: string): void;
}

/** Does `spool` name a PostgreSQL server rather than a file? */
function isPostgresUrl(spool: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spool);
}

/** Throws ConfigError when the spool cannot be used; `log` hears of trouble it survives. */
export async function openSpool(config: SpoolConfig, log?: OpenLog): Promise<Spool> {
  const statuses: StatusPolicy = { ...DEFAULT_STATUS_POLICY, retentionMs: config.statusRetentionMs };
  if (config.spool === ':memory:') return new MemorySpool(config.spoolMax, undefined, statuses);
  if (isPostgresUrl(config.spool)) {
    // pg and its helpers stay unloaded (15 MiB of resident memory) unless the spool is PostgreSQL.
    const [{ targetOf }, { PostgresSpool }] = await Promise.all([import('./postgres/connect.js'), import('./postgres/spool.js')]);
    return PostgresSpool.open(targetOf(config.spool), { spoolMax: config.spoolMax, leaseMs: config.leaseMs, name: config.name, statuses, ...(log && { log }) });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(config.spool)?.[1];
  if (scheme) throw new ConfigError(`--spool: ${scheme}:// is not a spool gocm knows; give a file path, :memory:, or a postgres:// URL`);
  return new SqliteSpool(config.spool, { sync: config.sync, spoolMax: config.spoolMax, statuses, ...(log ? { log } : {}) });
}
