// Load generators for the line protocol, kept cheap because they share the
// machine's cores with the daemon: raw sockets, pre-built lines written in
// batches, replies counted by their newlines and never parsed. Replies come
// in request order (SPEC.md), so the nth newline answers the nth line.
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

const NEWLINE = 10;
const REFUSED = Buffer.from('"ok":false');

export function openSockets(path: string, count: number): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = createConnection(path);
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve(socket);
        });
        socket.once('error', reject);
      }),
    ),
  );
}

function countNewlines(chunk: Buffer): number {
  let count = 0;
  for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

/** A connection's reply stream as counts: `onReplies(n, chunk)` for each chunk read. */
function onReplyCounts(socket: Socket, onReplies: (count: number, chunk: Buffer) => void, fail: (error: Error) => void): void {
  socket.on('data', (chunk: Buffer) => onReplies(countNewlines(chunk), chunk));
  socket.once('error', fail);
  socket.once('end', () => fail(new Error('the daemon closed a connection')));
}

export interface SaturateOptions {
  /** Lines each connection sends. */
  readonly linesPerConnection: number;
  /** Lines a connection may have unanswered. */
  readonly window: number;
  /** Lines per write. */
  readonly batch: number;
  /** `lines` request lines, each ending in "\n". Called for every write: cache what can be. */
  readonly makeBatch: (lines: number) => string;
}

export interface SaturateResult {
  readonly lines: number;
  readonly seconds: number;
  /** Reply chunks that held at least one `"ok":false` (a chunk may split one: a hint, not a count). */
  readonly refusedChunks: number;
}

/** Every connection keeps its window full until it has sent its share; resolves when all are answered. */
export function saturate(sockets: readonly Socket[], options: SaturateOptions): Promise<SaturateResult> {
  const { linesPerConnection: quota, window, batch, makeBatch } = options;
  if (!Number.isInteger(quota)) throw new Error(`linesPerConnection must be a whole number, not ${quota}`);
  let refusedChunks = 0;
  let unfinished = sockets.length;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    for (const socket of sockets) {
      let sent = 0;
      let acked = 0;
      const topUp = (): void => {
        while (sent < quota && sent - acked + Math.min(batch, quota - sent) <= window) {
          const lines = Math.min(batch, quota - sent);
          socket.write(makeBatch(lines));
          sent += lines;
        }
      };
      onReplyCounts(
        socket,
        (count, chunk) => {
          acked += count;
          if (chunk.includes(REFUSED)) refusedChunks++;
          if (acked >= quota) {
            socket.removeAllListeners('data');
            if (--unfinished === 0) resolve({ lines: quota * sockets.length, seconds: (performance.now() - started) / 1000, refusedChunks });
            return;
          }
          topUp();
        },
        reject,
      );
      topUp();
    }
  });
}

export interface PacedOptions {
  /** Lines a second, over all connections. */
  readonly rate: number;
  /** Sent at the same rate first; their latencies are not kept. */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** One request line, ending in "\n". */
  readonly line: string;
}

export interface PacedResult {
  /** Acknowledgement latencies (ms) of the lines sent in the measured window, ascending. */
  readonly latencies: Float64Array;
  /** Lines a second actually written during the measured window. */
  readonly offered: number;
  readonly refusedChunks: number;
}

/**
 * Open-loop load: every ~1 ms, write the lines the schedule says are due,
 * round-robin over the connections, each stamped with its write time; each
 * reply is matched with its line by order. Lines keep going out at the set
 * rate whatever the replies do, so a slow daemon shows as latency.
 */
export function paced(sockets: readonly Socket[], options: PacedOptions): Promise<PacedResult> {
  const { rate, warmupMs, measureMs, line } = options;
  const total = Math.round((rate * (warmupMs + measureMs)) / 1000);
  const perConnection = Math.ceil(total / sockets.length) + 1;
  const sentAt = sockets.map(() => new Float64Array(perConnection));
  const sentCount = sockets.map(() => 0);
  const latencies = new Float64Array(total);
  let kept = 0;
  let refusedChunks = 0;
  let written = 0;
  let writtenInWindow = 0;
  let answered = 0;
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const measureTo = measureFrom + measureMs;

  return new Promise((resolve, reject) => {
    const finish = (): void => {
      const measured = latencies.subarray(0, kept).sort();
      resolve({ latencies: measured, offered: writtenInWindow / (measureMs / 1000), refusedChunks });
    };
    sockets.forEach((socket, index) => {
      const stamps = sentAt[index] as Float64Array;
      let acked = 0;
      onReplyCounts(
        socket,
        (count, chunk) => {
          const now = performance.now();
          if (chunk.includes(REFUSED)) refusedChunks++;
          for (let i = 0; i < count; i++) {
            const at = stamps[acked++] as number;
            if (at >= measureFrom && at < measureTo) latencies[kept++] = now - at;
          }
          answered += count;
          if (written === total && answered === total) finish();
        },
        reject,
      );
    });
    const lines = sockets.map(() => 0);
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - started) * rate) / 1000));
      for (; written < due; written++) {
        const index = written % sockets.length;
        lines[index] = (lines[index] as number) + 1;
      }
      sockets.forEach((socket, index) => {
        const count = lines[index] as number;
        if (count === 0) return;
        lines[index] = 0;
        const stamps = sentAt[index] as Float64Array;
        const first = sentCount[index] as number;
        stamps.fill(now, first, first + count);
        sentCount[index] = first + count;
        if (now >= measureFrom && now < measureTo) writtenInWindow += count;
        socket.write(count === 1 ? line : line.repeat(count));
      });
      if (written < total) setTimeout(tick, 1);
    };
    tick();
  });
}
