// What a throw-away PostgreSQL cluster is made of: the server binaries, the
// user they run as, the settings and the authentication rules it starts with.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Setting = string | number | boolean;

/**
 * Fast, not durable against a power cut: no test survives one anyway.
 * synchronous_commit stays on because gocm's acknowledgement relies on it.
 */
export const FAST_SETTINGS: Readonly<Record<string, Setting>> = {
  fsync: false,
  full_page_writes: false,
  synchronous_commit: true,
  max_connections: 100,
  shared_buffers: '32MB',
  // Segments as files in the data directory, not in /dev/shm: a killed cluster leaves nothing outside it.
  dynamic_shared_memory_type: 'mmap',
  // We read the log for "Address already in use".
  lc_messages: 'C',
  log_checkpoints: false,
  password_encryption: 'scram-sha-256',
};

export const HBA = `# Written by test/support/postgres-setup.ts. The helper's own admin connections
# come as postgres over the socket; everyone else gives a password.
local all postgres trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
`;

const DEBIAN_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin directory (Debian keeps each major version apart). */
export function serverBinDir(): string {
  const versions = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT).filter((version) => /^\d+(\.\d+)?$/.test(version) && existsSync(join(DEBIAN_ROOT, version, 'bin', 'initdb')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) {
    throw new Error(`PostgreSQL is not installed: no ${DEBIAN_ROOT}/<version>/bin/initdb (apt-get install postgresql; .ci/run installs it)`);
  }
  return join(DEBIAN_ROOT, newest, 'bin');
}

export interface ServerUser {
  readonly uid: number;
  readonly gid: number;
}

/** PostgreSQL refuses to run as root: as root we run it as `postgres`; otherwise as ourselves. */
export function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (entry === undefined) throw new Error('running as root, but there is no postgres user to run PostgreSQL as (the postgresql package creates it)');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/**
 * setpriv rather than runuser: it execs instead of forking, so the server is
 * our own child (reaped the moment it dies, which a restart after a kill
 * needs: PID 1 here reaps orphans only about a second later, and PostgreSQL
 * takes an unreaped pid for a live postmaster); and --pdeathsig kills it if
 * this process dies without cleaning up.
 */
export function asServerUser(user: ServerUser | undefined, command: string, args: readonly string[]): [string, string[]] {
  const become = user === undefined ? [] : ['--reuid=postgres', '--regid=postgres', '--init-groups'];
  return ['setpriv', [...become, '--pdeathsig=KILL', '--', command, ...args]];
}

/** Our environment without libpq's PG* variables, so that a developer's PGHOST cannot redirect the helper. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
}

export function formatSetting(name: string, value: Setting): string {
  if (!/^[a-z][a-z0-9_.]*$/.test(name)) throw new Error(`not a PostgreSQL setting name: ${JSON.stringify(name)}`);
  if (typeof value === 'boolean') return `${name} = ${value ? 'on' : 'off'}`;
  if (typeof value === 'number') return `${name} = ${value}`;
  return `${name} = '${value.replaceAll("'", "''")}'`;
}

/** A line of a libpq password file, where ':' and '\' in a field are escaped. */
export function passfileLine(fields: readonly string[]): string {
  return fields.map((field) => field.replace(/[\\:]/g, (c) => `\\${c}`)).join(':');
}
