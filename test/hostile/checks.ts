// What the hostile-client tests check again and again: a reply line is well
// formed, the report's counters add up, and how much memory the daemon holds.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { ERROR_CODES } from '../../src/errors.js';
import { isObject } from '../../src/guards.js';
import { type DaemonProcess, LineClient, type Reply } from '../support/daemon.js';


export function errorCode(reply: Reply): string | undefined {
  const error = reply.error;
  return isObject(error) && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * A reply line as every reply must be: a JSON object with a boolean `ok`; an
 * error carries a code of the table in src/errors.ts and a message. `internal`
 * is refused too: it means the daemon met a case it did not expect.
 */
export function wellFormed(line: string | undefined, context: string): Reply {
  assert.ok(line !== undefined, `${context}: the daemon closed the connection instead of answering`);
  let reply: unknown;
  try {
    reply = JSON.parse(line);
  } catch {
    assert.fail(`${context}: the reply is not JSON: ${line.slice(0, 300)}`);
  }
  assert.ok(isObject(reply), `${context}: the reply is not an object: ${line.slice(0, 300)}`);
  assert.equal(typeof reply.ok, 'boolean', `${context}: "ok" is not a boolean: ${line.slice(0, 300)}`);
  if (reply.ok === false) {
    const error = reply.error;
    assert.ok(isObject(error), `${context}: an error reply without "error": ${line.slice(0, 300)}`);
    assert.ok(typeof error.code === 'string' && error.code in ERROR_CODES, `${context}: unknown error code: ${line.slice(0, 300)}`);
    assert.ok(typeof error.message === 'string' && error.message.length > 0, `${context}: no message: ${line.slice(0, 300)}`);
    assert.notEqual(error.code, 'internal', `${context}: an internal error: ${line.slice(0, 300)}`);
  }
  return reply as Reply;
}

/**
 * The report accounts for exactly the tokens the test saw accepted: `attempts`
 * counts them, and each is counted once as a success, a failure or pending.
 */
export function assertCountersMatch(report: Reply, accepted: number): void {
  const [attempts, recovered, successes, failures, pending] = ['attempts', 'recovered', 'successes', 'failures', 'pending'].map((key) => {
    const value = report[key];
    assert.equal(typeof value, 'number', `report.${key} is a number: ${JSON.stringify(report)}`);
    return value as number;
  }) as [number, number, number, number, number];
  assert.equal(attempts, accepted, `attempts = the tokens accepted in the replies: ${JSON.stringify(report)}`);
  assert.equal(successes + failures + pending, accepted + recovered, `every token accounted for once: ${JSON.stringify(report)}`);
}

/** The daemon's resident set size, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `VmRSS of ${pid}`);
  return Number(match[1]) * 1024;
}

/** Open file descriptors of a process (Linux). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The "HOST:PORT" the daemon logged for --tcp. */
export function tcpPort(daemon: DaemonProcess): number {
  const listening = daemon.logs().find((line) => typeof line.tcp === 'string');
  const port = /:(\d+)$/.exec(String(listening?.tcp))?.[1];
  assert.ok(port, `a tcp listening line in:\n${daemon.output()}`);
  return Number(port);
}

export function connectTcp(port: number, host = '127.0.0.1'): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, host);
    socket.once('connect', () => resolve(new LineClient(socket)));
    socket.once('error', reject);
  });
}

/** Resolves once `condition` holds, checking every `everyMs`; rejects after `timeoutMs` (a bound, not a measure). */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
