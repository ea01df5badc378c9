// Shared by the packaging tests: the system tools they drive, child processes whose output
// they await line by line, scratch directories, and a notify socket that listens like systemd.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Fails, never skips, when a tool is missing: the message says what to install. */
export function requireTools(tools: Record<string, string>): void {
  const missing = Object.entries(tools).filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, debianPackage]) => debianPackage))].join(' ');
  throw new Error(`missing ${missing.map(([command]) => command).join(', ')}: apt-get install ${packages}`);
}

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end; a non-zero exit is a result, not an exception. */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? error.code : 0;
      if (typeof code !== 'number') reject(error ?? new Error(`${command} did not exit`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** A scratch directory, removed by the returned function. */
export function scratch(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `gocm-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Lines a stream has written, and promises for lines yet to come. */
export class Lines {
  readonly seen: string[] = [];
  private partial = '';
  private ended = false;
  private readonly waiters: Array<() => void> = [];

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const parts = (this.partial + text).split('\n');
      this.partial = parts.pop() ?? '';
      this.seen.push(...parts);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The first line, from index `from` on, that matches; rejects if the stream ends first. */
  async find(match: (line: string) => boolean, from = 0): Promise<{ line: string; index: number }> {
    for (;;) {
      const index = this.seen.findIndex((line, i) => i >= from && match(line));
      const line = this.seen[index];
      if (line !== undefined) return { line, index };
      if (this.ended) throw new Error(`the stream ended without such a line; it said:\n${this.seen.join('\n')}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/** Resolves with the exit code (or signal name) of a child process. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

/** Stops a child we started and waits for it, so that nothing outlives the test. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = exited(child);
  child.kill('SIGKILL');
  await exit;
}

/** Sends one line on a Unix socket and resolves with the first line of the answer. */
export function ask(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${line}\n`));
    socket.on('data', (text: string) => {
      answer += text;
      const newline = answer.indexOf('\n');
      if (newline < 0) return;
      socket.destroy();
      resolve(answer.slice(0, newline));
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`the connection closed after "${answer}"`)));
  });
}

/**
 * A NOTIFY_SOCKET receiver: a Unix datagram socket, which node cannot open, so perl (part of
 * every Debian system) holds it. It prints each message on a line, newlines shown as "|".
 * It must also drop the fds that systemd-notify passes with BARRIER=1: the program waits
 * until every copy is closed, as systemd does on receipt. socat keeps them open, so
 * systemd-notify would wait 5 s and fail.
 */
export async function notifyReceiver(path: string): Promise<{ messages: Lines; child: ChildProcess }> {
  const script = [
    'use Socket;',
    'socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";',
    'bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!";',
    '$| = 1; print "listening\\n";',
    // recv(2) without room for control data: the kernel closes the passed fds.
    'while (defined recv($s, my $m, 65536, 0)) { $m =~ s/\\n/|/g; print "$m\\n"; }',
  ].join(' ');
  const child = spawn('perl', ['-e', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages = new Lines(child.stdout);
  await messages.find((line) => line === 'listening');
  return { messages, child };
}
