// wrk (Debian's `wrk` package) as the HTTP load generator: C and epoll, so
// its clients cost the two shared cores little. A Lua script posts one-token
// GoCM forms, each token unique, and prints wrk's figures as one JSON line.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killOnCleanup } from './common.js';

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  /** Answers other than 2xx, and socket errors: any of them spoils the run. */
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

// The token of each request: the size of a real FCM registration token, then thread and count.
const SCRIPT = `
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  prefix = "tokens=" .. args[1] .. ":APA91b" .. string.rep("x", 140) .. "-" .. id .. "-"
  payload = "&payload=" .. "%7B%22title%22%3A%22Hi%22%2C%22n%22%3A3%7D"
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  counter = 0
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/gcm/send", headers, prefix .. counter .. payload)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"us":%d,"non2xx":%d,"socketErrors":%d,"p50":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/** Run wrk against `url` for `seconds` with `connections` keep-alive clients; tokens start with `prefix`. */
export function runWrk(dir: string, url: string, options: { seconds: number; connections: number; threads: number; prefix: string }): Promise<WrkResult> {
  const script = join(dir, 'gocm-send.lua');
  writeFileSync(script, SCRIPT);
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '10s', '-s', script, url, '--', options.prefix];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  killOnCleanup(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`wrk could not run (apt-get install wrk): ${error.message}`)));
    child.once('close', (code) => {
      const line = output.split('\n').find((text) => text.startsWith('{'));
      if (code !== 0 || line === undefined) return reject(new Error(`wrk failed (exit ${code}):\n${output}`));
      const figures = JSON.parse(line) as { requests: number; us: number; non2xx: number; socketErrors: number; p50: number; p99: number; max: number };
      resolve({
        requests: figures.requests,
        seconds: figures.us / 1e6,
        non2xx: figures.non2xx,
        socketErrors: figures.socketErrors,
        latencyMs: { p50: figures.p50 / 1000, p99: figures.p99 / 1000, max: figures.max / 1000 },
      });
    });
  });
}
