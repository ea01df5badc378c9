// Where the PostgreSQL server's time went during a run: pg_stat_statements
// (the cluster must preload it), reset before the run and read after it,
// the statements that took the most of it printed on stderr, with their
// cost per unit of the run's work (a send, a token).
import type { PostgresCluster } from '../support/postgres.js';
import { note, round } from './common.js';

export interface PgStatements {
  reset(): Promise<void>;
  /** Print the statements that took most of the server's time since the reset; `units` is the run's count of work. */
  print(run: string, units: number): Promise<void>;
}

const TOP = 8;

export async function topStatements(cluster: PostgresCluster): Promise<PgStatements> {
  await cluster.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements;');
  return {
    reset: async () => void (await cluster.psql('SELECT pg_stat_statements_reset();')),
    print: async (run, units) => {
      const rows = await cluster.psql(
        `SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3), rows, regexp_replace(left(query, 110), '\\s+', ' ', 'g')
         FROM pg_stat_statements WHERE dbid <> (SELECT oid FROM pg_database WHERE datname = 'postgres')
         ORDER BY total_exec_time DESC LIMIT ${TOP}`,
      );
      const total = await cluster.psql(`SELECT round(sum(total_exec_time)::numeric, 1) FROM pg_stat_statements WHERE dbid <> (SELECT oid FROM pg_database WHERE datname = 'postgres')`);
      note(`${run}: statements took ${total} ms of the server's time, ${round((Number(total) * 1000) / units, 1)} µs per unit; the top ${TOP} (calls|total ms|mean ms|rows|query):`);
      for (const line of rows.split('\n')) note(`  ${line}`);
    },
  };
}
