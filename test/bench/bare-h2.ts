// The yardstick of the delivery benchmarks: a bare node:http2 client, in its own
// process, pushing FCM v1 (or, with --apikey, legacy one-token; with --apns-key,
// APNs) requests with the daemon's bodies and Authorization header at the same
// concurrency, with nothing else in the way (no spool, no engine). Prints one
// JSON line (rate, CPU seconds, peak RSS). Run by delivery.ts, delivery-gcm.ts
// and delivery-apns.ts:
//   node dist/test/bench/bare-h2.js --url URL --credentials FILE --requests N --concurrency C --sessions S
//   node dist/test/bench/bare-h2.js --url SEND_URL --apikey KEY --requests N --concurrency C --sessions S
//   node dist/test/bench/bare-h2.js --url URL --apns-key FILE --key-id ID --team-id ID --topic T --requests N …
// With --via-pool the same requests go through gocm's own transport (H2Pool)
// instead: what the transport costs on its own, without spool or engine.
// The fake's certificate is trusted through NODE_EXTRA_CA_CERTS, as the daemon's is.
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadApnsKey } from '../../src/providers/apns/key.js';
import { signProviderToken } from '../../src/providers/apns/provider-token.js';
import { apnsRequest } from '../../src/providers/apns/request.js';
import { loadServiceAccount } from '../../src/providers/fcm/credentials.js';
import { signAssertion } from '../../src/providers/fcm/jwt.js';
import { bodyFor, bodyTemplate } from '../../src/providers/fcm/message.js';
import { H2Pool } from '../../src/providers/transport/h2-pool.js';
import { BENCH_PAYLOAD, deviceToken } from './payload.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    credentials: { type: 'string' },
    apikey: { type: 'string' },
    'apns-key': { type: 'string' },
    'key-id': { type: 'string' },
    'team-id': { type: 'string' },
    topic: { type: 'string' },
    'via-pool': { type: 'boolean', default: false },
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '2000' },
    sessions: { type: 'string', default: '20' },
    prefix: { type: 'string', default: 'bare' },
  },
});

/** One request on `session`; resolves with the status (0: the stream failed). */
function post(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: string): Promise<number> {
  return new Promise((resolve) => {
    const stream = session.request(headers);
    let status = 0;
    stream.on('response', (response) => (status = Number(response[':status'])));
    stream.on('data', () => undefined);
    stream.on('end', () => resolve(status));
    stream.on('error', () => resolve(0));
    stream.end(body);
  });
}

function connect(origin: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

async function accessToken(credentials: string): Promise<string> {
  const account = loadServiceAccount(credentials);
  const tokenUri = new URL(account.tokenUri);
  const session = await connect(tokenUri.origin);
  try {
    const form = `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion=${signAssertion(account, Math.floor(Date.now() / 1000))}`;
    const stream = session.request({ ':method': 'POST', ':path': tokenUri.pathname, 'content-type': 'application/x-www-form-urlencoded' });
    stream.setEncoding('utf8');
    let text = '';
    stream.on('data', (chunk: string) => (text += chunk));
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.end(form);
    });
    return (JSON.parse(text) as { access_token: string }).access_token;
  } finally {
    session.close();
  }
}

interface Target {
  readonly origin: string;
  readonly headers: http2.OutgoingHttpHeaders;
  readonly body: (token: string) => string;
  /** APNs: the device token is in the path, and a 64-hex-digit one. */
  readonly path?: (token: string) => string;
}

/** APNs with a provider token signed once, as gocmd reuses its own for 40 minutes. */
function apnsTarget(url: string, keyFile: string): Target {
  const { origin } = new URL(url);
  const key = { privateKey: loadApnsKey(keyFile), keyId: values['key-id'] ?? '', teamId: values['team-id'] ?? '' };
  const request = apnsRequest(BENCH_PAYLOAD, Date.now(), values.topic ?? '');
  const headers = { ':method': 'POST', ...request.headers, authorization: `bearer ${signProviderToken(key, Math.floor(Date.now() / 1000))}`, 'content-type': 'application/json' };
  return { origin, headers, body: () => request.body, path: (token) => `/3/device/${deviceToken(token)}` };
}

/** FCM v1 with an access token from `credentials`, or the legacy protocol with `apikey`: the requests gocmd would make. */
async function target(url: string, credentials: string | undefined, apikey: string | undefined): Promise<Target> {
  const { origin, pathname } = new URL(url);
  if (values['apns-key'] !== undefined) return apnsTarget(url, values['apns-key']);
  if (apikey !== undefined) {
    const headers = { ':method': 'POST', ':path': pathname, authorization: `key=${apikey}`, 'content-type': 'application/json' };
    return { origin, headers, body: (token) => JSON.stringify({ registration_ids: [token], data: BENCH_PAYLOAD.payload }) };
  }
  if (credentials === undefined) throw new Error('--credentials or --apikey is required');
  const template = bodyTemplate(BENCH_PAYLOAD, false);
  const headers = {
    ':method': 'POST',
    ':path': `/v1/projects/${encodeURIComponent(loadServiceAccount(credentials).projectId)}/messages:send`,
    authorization: `Bearer ${await accessToken(credentials)}`,
    'content-type': 'application/json; charset=utf-8',
  };
  return { origin, headers, body: (token) => bodyFor(template, token) };
}

async function main(): Promise<void> {
  const url = values.url;
  if (url === undefined) throw new Error('--url is required');
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const sessionCount = Number(values.sessions);

  const started = performance.now();
  const { origin, headers, body, path } = await target(url, values.credentials, values.apikey);
  const headersFor = path === undefined ? () => headers : (token: string) => ({ ...headers, ':path': path(token) });
  const statuses = new Map<number, number>();
  let next = 0;
  /** A lane sends one request after another; `concurrency` lanes spread evenly over the sessions. */
  const lanes = async (send: (lane: number, token: string) => Promise<number>): Promise<void> => {
    const lane = async (i: number): Promise<void> => {
      while (next < requests) {
        const status = await send(i, `${values.prefix}-${next++}`);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, i) => lane(i)));
  };
  if (values['via-pool']) {
    if (path !== undefined) throw new Error('--via-pool takes FCM or legacy requests');
    const { ':method': method, ':path': fixedPath, ...rest } = headers;
    const plain = Object.fromEntries(Object.entries(rest).map(([name, value]) => [name, String(value)]));
    const request = { method: String(method), path: String(fixedPath), headers: plain };
    const pool = new H2Pool(origin, { connections: sessionCount, concurrency, timeoutMs: 60_000 });
    await lanes((_lane, token) => pool.request({ ...request, body: body(token) }).then((response) => response.status, () => 0));
    await pool.close();
  } else {
    const sessions = await Promise.all(Array.from({ length: sessionCount }, () => connect(origin)));
    await lanes((lane, token) => post(sessions[lane % sessionCount] as http2.ClientHttp2Session, headersFor(token), body(token)));
    for (const session of sessions) session.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const ok = statuses.get(200) ?? 0;
  const cpu = process.cpuUsage();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // maxRSS is in KiB: the peak resident set, as VmHWM is for gocmd.
  const peakRssMiB = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ requests, ok, statuses: Object.fromEntries(statuses), seconds, perSecond: requests / seconds, cpuSeconds, peakRssMiB })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bare-h2: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
