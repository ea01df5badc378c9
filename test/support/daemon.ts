// Starts a real gocmd child process on a temporary socket, and talks to it
// over that socket. Every test that needs a daemon goes through here.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const GOCMD = join(ROOT, 'bin', 'gocmd.js');
export const GOCMCTL = join(ROOT, 'bin', 'gocmctl.js');

export type Reply = Record<string, unknown> & { ok: boolean };

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A persistent connection: write lines, read replies one by one, in order. */
export class LineClient {
  private buffered = '';
  private readonly replies: string[] = [];
  private readonly waiters: Array<(line: string | undefined) => void> = [];
  private ended = false;

  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffered += text;
      let newline = this.buffered.indexOf('\n');
      while (newline >= 0) {
        this.deliver(this.buffered.slice(0, newline));
        this.buffered = this.buffered.slice(newline + 1);
        newline = this.buffered.indexOf('\n');
      }
    });
    socket.on('end', () => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter(undefined);
    });
    socket.on('error', () => undefined);
  }

  private deliver(line: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(line);
    else this.replies.push(line);
  }

  write(line: string | object): void {
    this.socket.write((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
  }

  /** The next reply line as text; undefined once the daemon closed the connection. */
  nextLine(): Promise<string | undefined> {
    const line = this.replies.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async next(): Promise<Reply> {
    const line = await this.nextLine();
    if (line === undefined) throw new Error('the daemon closed the connection');
    return JSON.parse(line) as Reply;
  }

  async request(line: string | object): Promise<Reply> {
    this.write(line);
    return this.next();
  }

  /** Resolves when the daemon closes its side. */
  closed(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('end', () => resolve()));
  }

  close(): void {
    this.socket.destroy();
  }
}

export function connect(path: string): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(new LineClient(socket)));
    socket.once('error', reject);
  });
}

export interface StartOptions {
  /** Flags beyond --socket (and --spool :memory: unless a --spool is given). */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Reuse a directory (e.g. to restart on the same spool); made and removed by us otherwise. */
  readonly dir?: string;
}

export class DaemonProcess {
  private stdout = '';
  private stderr = '';
  readonly exited: Promise<Exit>;

  constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly socket: string,
    private readonly ownsDir: boolean,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (this.stdout += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Everything the daemon printed so far. */
  output(): string {
    return this.stdout + this.stderr;
  }

  get stdoutText(): string {
    return this.stdout;
  }

  get stderrText(): string {
    return this.stderr;
  }

  /** Log lines (pino JSON) printed so far. */
  logs(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  connect(): Promise<LineClient> {
    return connect(this.socket);
  }

  /** Resolves with the first log line whose `msg` matches, once it is printed (awaited on the output, not polled). */
  waitForLog(msg: string | RegExp, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const matches = (line: Record<string, unknown>): boolean => (typeof msg === 'string' ? line.msg === msg : msg.test(String(line.msg)));
    return new Promise((resolve, reject) => {
      const look = (): boolean => {
        const found = this.logs().find(matches);
        if (!found) return false;
        cleanUp();
        resolve(found);
        return true;
      };
      const onData = (): void => void look();
      const timer = setTimeout(() => {
        cleanUp();
        reject(new Error(`no log line ${String(msg)} within ${timeoutMs} ms:\n${this.output().slice(-2000)}`));
      }, timeoutMs);
      const cleanUp = (): void => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
      };
      if (!look()) this.child.stdout?.on('data', onData);
    });
  }

  /** One connection, one request, one reply. */
  async request(line: string | object): Promise<Reply> {
    const client = await this.connect();
    try {
      return await client.request(line);
    } finally {
      client.close();
    }
  }

  /** Ask `report` until `done` holds (a state, awaited; not a fixed sleep). */
  async waitForReport(done: (report: Reply) => boolean, what = 'the report', timeoutMs = 30_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = await this.request({ cmd: 'report' });
      if (done(report)) return report;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(report)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Wait until nothing is pending and every accepted token is final. */
  settled(): Promise<Reply> {
    return this.waitForReport((r) => r.pending === 0, 'pending to reach 0');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Stop (SIGKILL if needed) and remove the directory if we made it. Safe to call twice. */
  async close(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function tempDir(prefix = 'gocm-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const READY_TIMEOUT_MS = 30_000;

/** Start gocmd and wait for its "ready" log line (or its exit, which rejects with its output). */
export async function startDaemon(options: StartOptions = {}): Promise<DaemonProcess> {
  const dir = options.dir ?? tempDir();
  const socket = join(dir, 'gocm.sock');
  const args = [...(options.args ?? [])];
  if (!args.includes('--socket')) args.push('--socket', socket);
  if (!args.includes('--spool')) args.push('--spool', ':memory:');
  const child = spawn(process.execPath, [GOCMD, ...args], {
    env: { PATH: process.env.PATH, HOME: dir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const daemon = new DaemonProcess(child, dir, args[args.indexOf('--socket') + 1] as string, options.dir === undefined);
  const ready = new Promise<void>((resolve) => {
    const onData = (): void => {
      if (!/"msg":"ready"/.test(daemon.stdoutText)) return;
      child.stdout?.off('data', onData);
      resolve();
    };
    child.stdout?.on('data', onData);
  });
  const exited = daemon.exited.then((exit) => {
    throw new Error(`gocmd exited (${exit.code ?? exit.signal}) before it was ready:\n${daemon.output()}`);
  });
  // A daemon that never says "ready" (a quiet --log-level, a hang) fails the start, not the whole run.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`gocmd did not log "ready" within ${READY_TIMEOUT_MS} ms:\n${daemon.output()}`)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([ready, exited, timedOut]);
  } catch (error) {
    await daemon.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  exited.catch(() => undefined);
  return daemon;
}

/** Run a command to completion, collecting its output. */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
