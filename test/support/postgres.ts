// A throw-away PostgreSQL cluster for tests and benchmarks: its own directory,
// Unix socket and loopback port, a role `gocm` that must give its password,
// and on demand the failures a shared spool has to survive: a clean stop, a
// crash, a frozen server.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './daemon.js';
import { DATA, discard, PREFIX, reapAtExit, sweepAbandoned } from './postgres-reaper.js';
import { asServerUser, cleanEnv, FAST_SETTINGS, formatSetting, HBA, passfileLine, serverBinDir, type ServerUser, type Setting, serverUser } from './postgres-setup.js';
import { isGone, isStopped, processesIn, processState, signalAll, waitUntil } from './processes.js';

export interface ClusterOptions {
  /** postgresql.conf settings over the fast defaults (postgres-setup.ts), e.g. `{ fsync: true }` for a benchmark. */
  readonly settings?: Readonly<Record<string, Setting>>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 5;

/** A port nobody listens on now. PostgreSQL may still lose it to someone else: the caller retries. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

class PortTaken extends Error {}

interface ServerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class PostgresCluster {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  /** A libpq password file (mode 0600) holding the gocm role's password. */
  readonly passfile: string;
  /** What a client needs beside `url`: the password file. */
  readonly env: Readonly<{ PGPASSFILE: string }>;
  /** The gocm role's password, for tests of the other ways of giving it. */
  readonly password = randomBytes(18).toString('base64url');
  private currentPort = 0;
  private server: ChildProcess | undefined;
  private serverExit: Promise<ServerExit> = Promise.resolve({ code: null, signal: null });
  private frozen = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    /** The server's bin directory (initdb, postgres, psql of the same version). */
    readonly bin: string,
    private readonly user: ServerUser | undefined,
    private readonly settings: Readonly<Record<string, Setting>>,
  ) {
    this.dataDir = join(dir, DATA);
    this.socketDir = join(dir, 'socket');
    this.logFile = join(dir, 'postgres.log');
    this.passfile = join(dir, 'pgpass');
    this.env = { PGPASSFILE: this.passfile };
  }

  get port(): number {
    return this.currentPort;
  }

  /** The gocm database as the gocm role over TCP, without a password: that comes from `env`. */
  get url(): string {
    return `postgres://gocm@127.0.0.1:${this.currentPort}/gocm`;
  }

  /** The postmaster's pid while the server runs. */
  get pid(): number | undefined {
    return this.server?.pid;
  }

  /** initdb, configure, start on a free port, then make the gocm role and database. */
  async create(): Promise<void> {
    await this.asServer(join(this.bin, 'initdb'), ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C']);
    mkdirSync(this.socketDir, { mode: 0o700 });
    this.ownedByServer(this.socketDir);
    this.writeServerFile(join(this.dataDir, 'pg_hba.conf'), HBA);
    writeFileSync(join(this.dataDir, 'postgresql.conf'), "\ninclude = 'gocm.conf'\n", { flag: 'a' });
    await this.startOnFreePort();
    await this.psql(`CREATE ROLE gocm LOGIN PASSWORD '${this.password}';\nCREATE DATABASE gocm OWNER gocm;\n`);
    const line = (host: string) => passfileLine([host, String(this.currentPort), '*', 'gocm', this.password]);
    writeFileSync(this.passfile, `${line('127.0.0.1')}\n${line(this.socketDir)}\n`, { mode: 0o600 });
  }

  private async startOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.currentPort = await freePort();
      this.writeSettings();
      try {
        await this.start();
        return;
      } catch (error) {
        if (!(error instanceof PortTaken) || attempt === PORT_ATTEMPTS) throw error;
      }
    }
  }

  private writeSettings(): void {
    // Ours last, so that no caller's setting moves the cluster out of its directory or off loopback.
    const settings: Record<string, Setting> = {
      ...FAST_SETTINGS,
      ...this.settings,
      listen_addresses: '127.0.0.1',
      port: this.currentPort,
      unix_socket_directories: this.socketDir,
    };
    const lines = Object.entries(settings).map(([name, value]) => formatSetting(name, value));
    this.writeServerFile(join(this.dataDir, 'gocm.conf'), `# Written by test/support/postgres.ts.\n${lines.join('\n')}\n`);
  }

  /** Start the server again, on the same port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.server !== undefined) throw new Error('the PostgreSQL server is already running');
    const logStart = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const log = openSync(this.logFile, 'a');
    let server: ChildProcess;
    try {
      const [command, args] = asServerUser(this.user, join(this.bin, 'postgres'), ['-D', this.dataDir]);
      server = spawn(command, args, { cwd: this.dir, env: { PATH: process.env.PATH, LC_ALL: 'C' }, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    let exited = false;
    this.serverExit = new Promise<ServerExit>((resolve) => {
      server.once('exit', (code, signal) => resolve({ code, signal }));
      server.once('error', () => resolve({ code: null, signal: null }));
    }).finally(() => (exited = true));
    this.server = server;
    await waitUntil(() => exited || this.ready(server.pid), 'PostgreSQL to accept connections', START_TIMEOUT_MS);
    if (!exited) return;
    this.server = undefined;
    const output = this.log().slice(logStart);
    if (/could not bind|Address already in use/.test(output)) throw new PortTaken(`port ${this.currentPort} is taken:\n${output}`);
    throw new Error(`PostgreSQL exited before it was ready:\n${output}`);
  }

  /** PostgreSQL's own sign, the one pg_ctl waits for: postmaster.pid names this pid and says "ready". */
  private ready(pid: number | undefined): boolean {
    try {
      const lines = readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n');
      return lines[0] === String(pid) && lines[7]?.trim() === 'ready';
    } catch {
      return false;
    }
  }

  /** A fast shutdown, as `pg_ctl stop -m fast`: sessions are ended, nothing committed is lost. Thaws first. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server?.pid === undefined) return;
    await this.thaw();
    signalAll([server.pid], 'SIGINT');
    if ((await within(this.serverExit, STOP_TIMEOUT_MS)) === 'timeout') {
      await this.kill();
      throw new Error(`PostgreSQL did not stop within ${STOP_TIMEOUT_MS} ms; killed it`);
    }
    this.server = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** A crash: SIGKILL for the postmaster and every server process. `start()` then runs crash recovery. */
  async kill(): Promise<void> {
    const pid = this.server?.pid;
    if (pid === undefined) return;
    // Stopped first, the postmaster cannot fork a process we would miss.
    signalAll([pid], 'SIGSTOP');
    await waitUntil(() => isStopped(pid), 'the postmaster to stop');
    const pids = new Set([pid, ...processesIn(this.dataDir)]);
    signalAll(pids, 'SIGKILL');
    await this.serverExit;
    await waitUntil(() => [...pids].every(isGone), 'the server processes to die');
    this.server = undefined;
    this.frozen = false;
  }

  /**
   * A server that stops answering without closing anything, as a hung or
   * partitioned host: SIGSTOP for the postmaster (first, so that it forks no
   * more) and every server process. Connections stay open; new ones are
   * accepted by the kernel and never answered.
   */
  async freeze(): Promise<void> {
    const pid = this.server?.pid;
    if (pid === undefined) throw new Error('the PostgreSQL server is not running');
    signalAll([pid], 'SIGSTOP');
    await waitUntil(() => isStopped(pid), 'the postmaster to stop');
    const others = processesIn(this.dataDir).filter((other) => other !== pid);
    signalAll(others, 'SIGSTOP');
    await waitUntil(() => others.every(isStopped), 'the server processes to stop');
    this.frozen = true;
  }

  /** Undo `freeze()`: the server goes on where it stopped. */
  async thaw(): Promise<void> {
    if (!this.frozen) return;
    const pids = processesIn(this.dataDir);
    const pid = this.server?.pid;
    // The postmaster last, so that it finds its processes running.
    signalAll([...pids.filter((other) => other !== pid), ...(pid === undefined ? [] : [pid])], 'SIGCONT');
    await waitUntil(() => pids.every((other) => processState(other) !== 'T'), 'the server processes to resume');
    this.frozen = false;
  }

  /** Every live process of this cluster: the postmaster and its children. */
  processes(): number[] {
    return [...new Set([...(this.pid === undefined ? [] : [this.pid]), ...processesIn(this.dataDir)])].filter((pid) => !isGone(pid));
  }

  /** Stop, then remove every process and file of the cluster. Safe to call twice, and after any failure. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    try {
      await this.stop();
    } catch {
      // stop() killed it: reap() below removes what is left
    }
    const left = this.processes();
    signalAll(left, 'SIGKILL');
    await waitUntil(() => left.every(isGone), 'the server processes to die').catch(() => undefined);
    discard(this.dir);
  }

  /** The server's log so far. */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Run SQL as the superuser over the Unix socket (psql, stopping at the first error); resolves with its unaligned output. */
  async psql(sql: string, database = 'postgres'): Promise<string> {
    const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', this.socketDir, '-p', String(this.currentPort), '-U', 'postgres', '-d', database, '-f', '-'];
    // On stdin, so that a password in the SQL never shows in `ps`.
    const result = await run(join(this.bin, 'psql'), args, { input: sql, env: cleanEnv() });
    if (result.code !== 0) throw new Error(`psql failed (exit ${result.code ?? 'by signal'}): ${result.stderr.trim()}`);
    return result.stdout.trim();
  }

  private async asServer(command: string, args: readonly string[]): Promise<void> {
    const [wrapper, wrapped] = asServerUser(this.user, command, args);
    const result = await run(wrapper, wrapped, { cwd: this.dir, env: { PATH: process.env.PATH, LC_ALL: 'C' }, timeoutMs: START_TIMEOUT_MS });
    if (result.code !== 0) throw new Error(`${command} failed (exit ${result.code ?? 'by signal'}):\n${result.stdout}${result.stderr}`);
  }

  private writeServerFile(path: string, text: string): void {
    writeFileSync(path, text, { mode: 0o600 });
    this.ownedByServer(path);
  }

  private ownedByServer(path: string): void {
    if (this.user !== undefined) chownSync(path, this.user.uid, this.user.gid);
  }
}

/**
 * A new cluster in its own temporary directory, running and ready, with the
 * role and database `gocm`. Close it (`after(() => cluster.close())`); what a
 * crashed test leaves is removed at its exit or by the next cluster's start.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<PostgresCluster> {
  const bin = serverBinDir();
  const user = serverUser();
  sweepAbandoned();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  const cluster = new PostgresCluster(dir, bin, user, options.settings ?? {});
  reapAtExit(dir);
  try {
    await cluster.create();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
