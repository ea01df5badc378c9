// What --metrics adds to the hot paths, timed inside one process, where other
// work on the machine cannot favour one side: the commands answering send
// lines with and without the onAck hook (memory spool), interleaved round by
// round, and the tally of committed settlements. Timed in CPU time (the time
// the machine's other work takes from us is not ours), and the minimum over
// the rounds is kept: interference only ever adds time.
import { createLogger } from '../../src/log.js';
import { Tally } from '../../src/metrics/tally.js';
import { Commands } from '../../src/protocol/commands.js';
import { Report } from '../../src/report.js';
import { MemorySpool } from '../../src/spool/memory.js';
import type { Settlement } from '../../src/spool/spool.js';

const ROUNDS = 25;
const SENDS = 20_000;
const BATCH = 500;
const SETTLEMENTS = 1_000;
const LINE = JSON.stringify({ cmd: 'send', tokens: [`bench:APA91b${'x'.repeat(148)}`], payload: { title: 'Hi', n: 3 } });

export interface HookCosts {
  /** ns of the commands' CPU per send line, without and with onAck. */
  readonly sendNanos: number;
  readonly sendNanosWithAck: number;
  /** ns Tally.settled spends per settlement. */
  readonly settleNanosPerToken: number;
}

function commands(onAck: ((app: string, tokens: number, seconds: number) => void) | undefined): Commands {
  const directory = { defaultApp: 'default', names: ['default'], sizeProblem: () => undefined };
  return new Commands({
    spool: new MemorySpool(SENDS), report: new Report(0), apps: () => directory, pausedUntil: () => undefined, onAccepted: () => undefined,
    log: createLogger('silent'), ...(onAck && { onAck }),
  });
}

/** CPU ns of this process since `since` (a process.cpuUsage()). */
function cpuNanos(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) * 1000;
}

/** ns per line of SENDS send lines, answered BATCH at a time. */
async function timeSends(target: Commands): Promise<number> {
  const started = process.cpuUsage();
  for (let sent = 0; sent < SENDS; sent += BATCH) {
    const replies: Array<string | Promise<string>> = [];
    for (let i = 0; i < BATCH; i++) replies.push(target.handle(LINE));
    await Promise.all(replies);
  }
  return cpuNanos(started) / SENDS;
}

function settlements(): Settlement[] {
  const message = { id: 'm', app: 'default', acceptedAt: 0, content: { payload: {} } };
  return Array.from({ length: SETTLEMENTS }, (_, i): Settlement => {
    const delivery = { message, token: `t${i}`, attempts: 0 };
    if (i % 10 === 0) return { delivery, result: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true };
    if (i % 10 === 1) return { delivery, result: 'retry', reason: { source: 'http', code: '503' }, dueAt: 0 };
    return { delivery, result: 'delivered' };
  });
}

export async function hookCosts(): Promise<HookCosts> {
  const tally = new Tally();
  const onAck = (app: string, tokens: number, seconds: number): void => tally.acked(app, tokens, seconds);
  let sendNanos = Infinity;
  let sendNanosWithAck = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    // A fresh spool each time, so that neither side works on a fuller one; which goes first alternates.
    for (const withAck of round % 2 === 0 ? [false, true] : [true, false]) {
      const nanos = await timeSends(commands(withAck ? onAck : undefined));
      if (withAck) sendNanosWithAck = Math.min(sendNanosWithAck, nanos);
      else sendNanos = Math.min(sendNanos, nanos);
    }
  }
  const batch = settlements();
  let settleNanosPerToken = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.cpuUsage();
    for (let i = 0; i < 100; i++) tally.settled(batch);
    settleNanosPerToken = Math.min(settleNanosPerToken, cpuNanos(started) / (100 * SETTLEMENTS));
  }
  return { sendNanos, sendNanosWithAck, settleNanosPerToken };
}
