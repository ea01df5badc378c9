// The PostgreSQL side of the benchmarks that use one: a throw-away cluster
// with durable settings (a commit costs a real flush), fresh databases to
// start each measurement from empty tables, and the CPU the server used,
// since it shares the machine's cores with everything else measured.
import { readFileSync } from 'node:fs';
import { type PostgresCluster, startCluster } from '../support/postgres.js';
import type { Setting } from '../support/postgres-setup.js';
import { cpuSecondsOf } from './common.js';

/**
 * fsync and full-page writes on, as in production; PostgreSQL's own default
 * shared_buffers, not the tests' small one. `extra` adds to them (e.g.
 * pg_stat_statements for a profile).
 */
export function startBenchCluster(extra: Readonly<Record<string, Setting>> = {}): Promise<PostgresCluster> {
  return startCluster({ settings: { fsync: true, full_page_writes: true, shared_buffers: '128MB', ...extra } });
}

/** One line about the server: its version and the settings a figure depends on. */
export function describeServer(cluster: PostgresCluster): Promise<string> {
  return cluster.psql(
    "SELECT 'PostgreSQL ' || current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', wal_sync_method=' || current_setting('wal_sync_method') || ', shared_buffers=' || current_setting('shared_buffers')",
  );
}

let databases = 0;

/** A new, empty database owned by gocm; resolves with its URL (the password comes from cluster.env). */
export async function freshDatabase(cluster: PostgresCluster, prefix = 'bench'): Promise<string> {
  const name = `${prefix}_${process.pid}_${databases++}`;
  await cluster.psql(`CREATE DATABASE ${name} OWNER gocm;`);
  return cluster.url.replace(/\/gocm$/, `/${name}`);
}

/** CPU seconds the server used so far: its live processes, and the exited ones the postmaster reaped. */
export function serverCpuSeconds(cluster: PostgresCluster): number {
  let seconds = 0;
  for (const pid of cluster.processes()) {
    try {
      seconds += cpuSecondsOf(pid);
    } catch {
      // exited meanwhile: counted in the postmaster's children's time once reaped
    }
  }
  if (cluster.pid === undefined) return seconds;
  const stat = readFileSync(`/proc/${cluster.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime, fields 16 and 17 of stat(5): the reaped children's CPU, in clock ticks.
  return seconds + (Number(fields[13]) + Number(fields[14])) / 100;
}
