// Chooses the spool the configuration asks for: `:memory:` keeps nothing across
// restarts (as GoCM); any other value is the path of the SQLite spool.
import type { Config } from '../config.js';
import type { SpoolLog } from './checkpointer.js';
import { MemorySpool } from './memory.js';
import { DEFAULT_STATUS_POLICY, type Spool, type StatusPolicy } from './spool.js';
import { SqliteSpool } from './sqlite.js';

/** Throws ConfigError when the SQLite spool cannot be opened; `log` hears of trouble it survives. */
export function openSpool(config: Pick<Config, 'spool' | 'sync' | 'spoolMax' | 'statusRetentionMs'>, log?: SpoolLog): Spool {
  const statuses: StatusPolicy = { ...DEFAULT_STATUS_POLICY, retentionMs: config.statusRetentionMs };
  if (config.spool === ':memory:') return new MemorySpool(config.spoolMax, undefined, statuses);
  return new SqliteSpool(config.spool, { sync: config.sync, spoolMax: config.spoolMax, statuses, ...(log ? { log } : {}) });
}
