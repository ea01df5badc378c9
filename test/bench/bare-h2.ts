// The yardstick of the delivery benchmark: a bare node:http2 client, in its own
// process, pushing FCM v1 requests with the daemon's bodies and Authorization
// header at the same concurrency, with nothing else in the way (no spool, no
// engine, no undici). Prints one JSON line. Run by delivery.ts:
//   node dist/test/bench/bare-h2.js --url URL --credentials FILE --requests N --concurrency C --sessions S
// The fake's certificate is trusted through NODE_EXTRA_CA_CERTS, as the daemon's is.
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadServiceAccount } from '../../src/providers/fcm/credentials.js';
import { signAssertion } from '../../src/providers/fcm/jwt.js';
import { bodyFor, bodyTemplate } from '../../src/providers/fcm/message.js';
import { BENCH_PAYLOAD } from './payload.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    credentials: { type: 'string' },
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

async function main(): Promise<void> {
  const url = values.url;
  const credentials = values.credentials;
  if (url === undefined || credentials === undefined) throw new Error('--url and --credentials are required');
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const sessionCount = Number(values.sessions);
  const projectId = loadServiceAccount(credentials).projectId;
  const template = bodyTemplate(BENCH_PAYLOAD, false);

  const started = performance.now();
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': `/v1/projects/${encodeURIComponent(projectId)}/messages:send`,
    authorization: `Bearer ${await accessToken(credentials)}`,
    'content-type': 'application/json; charset=utf-8',
  };
  const sessions = await Promise.all(Array.from({ length: sessionCount }, () => connect(url)));
  const statuses = new Map<number, number>();
  let next = 0;
  // A lane sends one request after another; `concurrency` lanes spread evenly over the sessions.
  const lane = async (session: http2.ClientHttp2Session): Promise<void> => {
    while (next < requests) {
      const token = `${values.prefix}-${next++}`;
      const status = await post(session, headers, bodyFor(template, token));
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => lane(sessions[i % sessionCount] as http2.ClientHttp2Session)));
  const seconds = (performance.now() - started) / 1000;
  for (const session of sessions) session.close();
  const ok = statuses.get(200) ?? 0;
  const cpu = process.cpuUsage();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`${JSON.stringify({ requests, ok, statuses: Object.fromEntries(statuses), seconds, perSecond: requests / seconds, cpuSeconds })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bare-h2: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
