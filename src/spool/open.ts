// Chooses the spool the configuration asks for: `:memory:` keeps nothing across
// restarts (as GoCM); any other value is the path of the SQLite spool.
import type { Config } from '../config.js';
import type { SpoolLog } from './checkpointer.js';
import { MemorySpool } from './memory.js';
import type { Spool } from './spool.js';
import { SqliteSpool } from './sqlite.js';

/** Throws ConfigError when the SQLite spool cannot be opened; `log` hears of trouble it survives. */
export function openSpool(config: Pick<Config, 'spool' | 'sync' | 'spoolMax'>, log?: SpoolLog): Spool {
  if (config.spool === ':memory:') return new MemorySpool(config.spoolMax);
  return new SqliteSpool(config.spool, { sync: config.sync, spoolMax: config.spoolMax, ...(log ? { log } : {}) });
}
