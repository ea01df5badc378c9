// systemd integration: readiness and status through the systemd-notify package (Type=notify),
// and the listening sockets systemd hands over (socket activation, sd_listen_fds(3)).
import { fstatSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError } from './errors.js';

/**
 * The systemd-notify package (CommonJS, untyped) runs the `systemd-notify` program with
 * `--pid=<our pid>` and the flags below; it rejects with the program's stderr or a spawn error.
 */
type Notify = (options: { ready?: boolean; status?: string }) => Promise<unknown>;
const notify = createRequire(import.meta.url)('systemd-notify') as Notify;

/** undefined: delivered, or not under systemd. A string: one line the caller may log. */
export type NotifyProblem = string | undefined;

/** What the next systemd-notify run will say, and who waits for it. */
interface Pending {
  ready: boolean;
  status: string | undefined;
  readonly waiters: Array<(problem: NotifyProblem) => void>;
}

let pending: Pending | undefined;
let sending = false;

/** Tell systemd start-up is complete (READY=1). */
export function notifyReady(): Promise<NotifyProblem> {
  return enqueue(true, undefined);
}

/** Set the one-line status `systemctl status` shows (STATUS=…). */
export function notifyStatus(text: string): Promise<NotifyProblem> {
  // A newline would start a new assignment in the notify message: READY=1 could be smuggled in.
  return enqueue(false, text.replace(/[\r\n]+/g, ' '));
}

/**
 * Say that we are stopping. The package cannot send STOPPING=1, so this is a status line;
 * systemd knows of a stop it asked for anyway, and sees the exit of one we chose.
 */
export function notifyStopping(): Promise<NotifyProblem> {
  return enqueue(false, 'stopping: answering what was received, leaving the rest in the spool');
}

/**
 * One systemd-notify child at a time: calls made while one runs are merged into the next run
 * (READY sticks, the latest status wins), so a burst of status updates costs two processes.
 */
function enqueue(ready: boolean, status: string | undefined): Promise<NotifyProblem> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    pending ??= { ready: false, status: undefined, waiters: [] };
    if (ready) pending.ready = true;
    if (status !== undefined) pending.status = status;
    pending.waiters.push(resolve);
    if (!sending) void sendPending();
  });
}

async function sendPending(): Promise<void> {
  sending = true;
  while (pending) {
    const { ready, status, waiters } = pending;
    pending = undefined;
    const problem = await send(ready, status);
    for (const settle of waiters) settle(problem);
  }
  sending = false;
}

async function send(ready: boolean, status: string | undefined): Promise<NotifyProblem> {
  try {
    await notify(status === undefined ? { ready } : { ready, status });
    return undefined;
  } catch (error) {
    return describe(error);
  }
}

function describe(error: unknown): string {
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    return 'systemd-notify: the program is not installed (it comes with systemd)';
  }
  const text = error instanceof Error ? error.message : String(error);
  return `systemd-notify: ${text.trim().replace(/\s*\n\s*/g, '; ') || 'failed and said nothing'}`;
}

export interface InheritedListener {
  readonly fd: number;
  readonly kind: 'unix' | 'tcp';
  /** FileDescriptorName= of the socket unit, when systemd passed LISTEN_FDNAMES. */
  readonly name: string | undefined;
}

/** sd_listen_fds(3): passed sockets start right after stdin, stdout and stderr. */
const LISTEN_FDS_START = 3;

/**
 * The listening sockets systemd passed us, in order. Throws ConfigError when the socket unit
 * passed something we cannot serve (a datagram socket, or Accept=yes connections).
 */
export function inheritedListeners(env: NodeJS.ProcessEnv = process.env): InheritedListener[] {
  const { LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES } = env;
  // Unset them whatever the outcome, as sd_listen_fds(1) does, so that our children never
  // take these fds for theirs.
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  // LISTEN_PID guards against variables inherited from a parent that was itself activated.
  if (LISTEN_PID !== String(process.pid) || LISTEN_FDS === undefined) return [];
  const count = Number(LISTEN_FDS);
  if (!Number.isSafeInteger(count) || count < 0) throw new ConfigError(`LISTEN_FDS="${LISTEN_FDS}" is not a number of sockets`);
  const names = LISTEN_FDNAMES?.split(':') ?? [];
  const kinds = count > 0 ? listeningSockets() : new Map<number, InheritedListener['kind']>();
  return Array.from({ length: count }, (_, index) => {
    const fd = LISTEN_FDS_START + index;
    const name = names[index] || undefined;
    return { fd, kind: kindOf(fd, name, kinds), name };
  });
}

function kindOf(fd: number, name: string | undefined, kinds: Map<number, InheritedListener['kind']>): InheritedListener['kind'] {
  let inode: number | undefined;
  try {
    const stat = fstatSync(fd);
    if (stat.isSocket()) inode = stat.ino;
  } catch {
    inode = undefined;
  }
  const kind = inode === undefined ? undefined : kinds.get(inode);
  if (kind) return kind;
  const label = name ? ` (${name})` : '';
  throw new ConfigError(`inherited fd ${fd}${label} is not a listening Unix or TCP stream socket: the socket unit needs ListenStream= and Accept=no`);
}

/**
 * Listening stream sockets of our network namespace, by inode. Node cannot ask a bare fd for
 * its family (getsockname) without wrapping it in a server, and closing that server would
 * close the fd; the kernel's tables answer without touching it. /proc/self/net stays
 * readable under ProtectProc=invisible and ProcSubset=pid.
 */
function listeningSockets(): Map<number, InheritedListener['kind']> {
  const kinds = new Map<number, InheritedListener['kind']>();
  // Columns: Num RefCount Protocol Flags Type St Inode Path; 0x10000 is __SO_ACCEPTCON
  // (listening), type 0001 SOCK_STREAM.
  for (const [, , , flags, type, , inode] of procTable('unix')) {
    if (type === '0001' && (Number.parseInt(flags ?? '0', 16) & 0x10000) !== 0) kinds.set(Number(inode), 'unix');
  }
  // Columns: sl local rem st … inode (10th); state 0A is TCP_LISTEN.
  for (const file of ['tcp', 'tcp6']) {
    for (const row of procTable(file)) if (row[3] === '0A') kinds.set(Number(row[9]), 'tcp');
  }
  return kinds;
}

function procTable(file: string): string[][] {
  try {
    const lines = readFileSync(`/proc/self/net/${file}`, 'utf8').trim().split('\n');
    return lines.slice(1).map((line) => line.trim().split(/\s+/));
  } catch {
    return []; // tcp6 is absent on hosts without IPv6
  }
}
