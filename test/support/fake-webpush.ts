// A fake Web Push service (RFC 8030) and the browsers subscribed to it: TLS
// with HTTP/2 (and HTTP/1.1, as some push services) on 127.0.0.1. It checks
// what a push service checks (webpush-rules.ts: TTL, Urgency, Topic, size,
// VAPID), decrypts each message as the browser would, and records the
// plaintext; each endpoint's tries are answered as the test scripted them.
// In-process for tests; standalone for benchmarks:
//   node dist/test/support/fake-webpush.js --port 0 --latency-ms 200 --subscriptions 1000
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeServer, headerValue, readBody, Records, regularHeaders } from './fake-server.js';
import { isRefusal, type Refusal } from './refusal.js';
import {
  checkVapidClaims, createUserAgentKeys, decryptPush, MAX_BODY_BYTES, parsePushHeaders, verifyVapidSignature,
  type PushHeaders, type SignedVapid, type UserAgentKeys, type VapidClaims,
} from './webpush-rules.js';

export interface WebPushAnswer {
  readonly status: number;
  /** Retry-After, say. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Never answer: the request stays open until the client gives up or close(). */
  readonly hang?: boolean;
}

export const webPushAnswers = {
  created: { status: 201 },
  notFound: { status: 404 },
  gone: { status: 410 },
  payloadTooLarge: { status: 413 },
  tooManyRequests: { status: 429 },
  internalServerError: { status: 500 },
  hang: { status: 0, hang: true },
} as const satisfies Record<string, WebPushAnswer>;

/** 429 with a Retry-After: seconds or an HTTP date. */
export const tooManyRequestsRetryAfter = (retryAfter: string): WebPushAnswer => ({ status: 429, headers: { 'retry-after': retryAfter } });

/** What `JSON.stringify(pushSubscription)` gives in a browser (less expirationTime): gocm's token. */
export interface PushSubscriptionJson {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

export interface SubscribeOptions {
  /** Answers by try (1, 2, …); past the end: 201 Created. */
  readonly answers?: readonly WebPushAnswer[];
  /** The applicationServerKey subscribed with. Default: the fake's vapidPublicKey. */
  readonly applicationServerKey?: string;
}

export interface FakeWebPushOptions {
  /** The VAPID public key (base64url) every message must be signed with. Default: any key. */
  readonly vapidPublicKey?: string;
  /** Offer HTTP/1.1 beside HTTP/2. Default true. */
  readonly allowHTTP1?: boolean;
  readonly port?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 100. */
  readonly maxConcurrentStreams?: number;
  readonly latencyMs?: number;
  /** The clock VAPID expiry is judged by, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
  /** Request records kept (the latest). Default 10,000; 0 keeps none, nor what received() lists. */
  readonly maxRecords?: number;
}

export interface WebPushRequestRecord {
  /** The endpoint URL the request was for. */
  readonly endpoint: string;
  readonly method: string;
  readonly httpVersion: string;
  /** Every header, lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly push: PushHeaders | undefined;
  readonly vapid: VapidClaims | undefined;
  readonly bodyBytes: number;
  /** The decrypted message, when it decrypted. */
  readonly plaintext: string | undefined;
  /** The same, byte for byte. */
  readonly plaintextBytes: Buffer | undefined;
  /** The plaintext parsed, when it is JSON. */
  readonly json: unknown;
  /** This endpoint's try number, when the request got past every check. */
  readonly attempt: number | undefined;
  /** What the fake answered (0: it never will). */
  readonly status: number;
  /** Why a request was refused. */
  readonly reason: string | undefined;
  /** Which connection (1, 2, …) it came on. */
  readonly connection: number;
  readonly receivedAt: number;
  readonly receivedAtPerf: number;
}

export interface FakeWebPush {
  /** https://127.0.0.1:PORT: the origin, VAPID's `aud`. */
  readonly url: string;
  readonly caFile: string;
  readonly ca: string;
  /** A browser subscribes: new keys, a new endpoint. */
  subscribe(options?: SubscribeOptions): PushSubscriptionJson;
  /** The browser unsubscribes: its endpoint answers 410 Gone from now on. */
  unsubscribe(endpoint: string): void;
  readonly requests: readonly WebPushRequestRecord[];
  /** The messages an endpoint received and decrypted, in order. */
  received(endpoint: string): readonly WebPushRequestRecord[];
  /** Tries per endpoint: requests that passed every check. */
  readonly tries: ReadonlyMap<string, number>;
  readonly connections: number;
  readonly requestsByHttpVersion: ReadonlyMap<string, number>;
  readonly inFlight: number;
  readonly peakInFlight: number;
  /** The first record, kept or still to come, that matches. Rejects at close(). */
  waitForRequest(match?: (record: WebPushRequestRecord) => boolean): Promise<WebPushRequestRecord>;
  close(): Promise<void>;
}

interface Subscription {
  readonly endpoint: string;
  readonly keys: UserAgentKeys;
  readonly answers: readonly WebPushAnswer[];
  readonly applicationServerKey: string | undefined;
  active: boolean;
  readonly received: WebPushRequestRecord[];
}

type Request = http2.Http2ServerRequest;
type Response = http2.Http2ServerResponse;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export async function startFakeWebPush(options: FakeWebPushOptions = {}): Promise<FakeWebPush> {
  const now = options.now ?? Date.now;
  const upstream = new FakeServer({ ...options, allowHTTP1: options.allowHTTP1 ?? true });
  const subscriptions = new Map<string, Subscription>();
  const requests = new Records<WebPushRequestRecord>(options.maxRecords ?? 10_000, 'fake Web Push');
  const tries = new Map<string, number>();
  const requestsByHttpVersion = new Map<string, number>();
  let inFlight = 0;
  let peakInFlight = 0;
  let messageIds = 0;
  let url = '';

  interface Checked {
    readonly answer: WebPushAnswer;
    readonly reason?: string;
    readonly push?: PushHeaders;
    readonly vapid?: VapidClaims;
    readonly plaintext?: Buffer;
    readonly attempt?: number;
  }
  /** Verified signatures by authorization header: an application server reuses its token for hours. */
  const signatures = new Map<string, SignedVapid | Refusal>();
  function authenticate(request: Request, subscription: Subscription): VapidClaims | Refusal {
    const authorization = headerValue(request.headers.authorization) ?? '';
    let signed = signatures.get(authorization);
    if (!signed) {
      signed = verifyVapidSignature(authorization);
      if (signatures.size >= 10_000) signatures.clear();
      signatures.set(authorization, signed);
    }
    return isRefusal(signed) ? signed : checkVapidClaims(signed, url, now(), subscription.applicationServerKey);
  }

  const refused = (refusal: Refusal, rest: Omit<Checked, 'answer' | 'reason'> = {}): Checked => ({ ...rest, answer: { status: refusal.status }, reason: refusal.reason });

  /** A push service's order: the resource, who sends, the headers, the size; then the browser decrypts. */
  function check(request: Request, subscription: Subscription | undefined, body: Buffer): Checked {
    if (!subscription) return { answer: webPushAnswers.notFound, reason: 'no such subscription' };
    if (request.method !== 'POST') return { answer: { status: 405, headers: { allow: 'POST' } }, reason: 'push with POST' };
    if (!subscription.active) return { answer: webPushAnswers.gone, reason: 'unsubscribed' };
    const vapid = authenticate(request, subscription);
    if (isRefusal(vapid)) return refused(vapid);
    const push = parsePushHeaders((name) => headerValue(request.headers[name]), body.length > 0);
    if (isRefusal(push)) return refused(push, { vapid });
    if (body.length > MAX_BODY_BYTES) return { vapid, push, answer: webPushAnswers.payloadTooLarge, reason: `body of ${body.length} bytes` };
    // A push without a body wakes the browser with no data: plaintext '' and bodyBytes 0.
    const plaintext = body.length === 0 ? Buffer.alloc(0) : decryptPush(body, subscription.keys);
    if (isRefusal(plaintext)) return refused(plaintext, { vapid, push });
    const attempt = (tries.get(subscription.endpoint) ?? 0) + 1;
    tries.set(subscription.endpoint, attempt);
    const answer = subscription.answers[attempt - 1] ?? webPushAnswers.created;
    return { vapid, push, plaintext, attempt, answer };
  }

  function record(entry: WebPushRequestRecord, subscription: Subscription | undefined): void {
    // maxRecords 0 (benchmarks) keeps nothing, per endpoint either.
    if (subscription && entry.plaintext !== undefined && options.maxRecords !== 0) subscription.received.push(entry);
    requests.add(entry);
  }

  function respond(response: Response, checked: Checked): void {
    if (response.destroyed || response.writableEnded) return;
    const { answer } = checked;
    response.statusCode = answer.status;
    for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
    if (answer.status === 201) {
      // RFC 8030 §5: the push message's resource, and the TTL the service will honour.
      response.setHeader('location', `${url}/message/${(messageIds += 1)}`);
      response.setHeader('ttl', String(checked.push?.ttl ?? 0));
      response.end();
      return;
    }
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ code: answer.status, error: STATUS_CODES[answer.status] ?? 'Error', message: checked.reason ?? 'scripted' }));
  }

  async function handle(request: Request, response: Response, connection: number): Promise<void> {
    const receivedAt = Date.now();
    const receivedAtPerf = performance.now();
    requestsByHttpVersion.set(request.httpVersion, (requestsByHttpVersion.get(request.httpVersion) ?? 0) + 1);
    const path = request.url;
    const subscription = subscriptions.get(`${url}${path}`);
    const body = await readBody(request as AsyncIterable<Buffer>, MAX_BODY_BYTES);
    const checked = check(request, subscription, body);
    record({
      endpoint: `${url}${path}`, method: request.method, httpVersion: request.httpVersion, headers: regularHeaders(request.headers),
      push: checked.push, vapid: checked.vapid, bodyBytes: body.length,
      plaintext: checked.plaintext?.toString('utf8'), plaintextBytes: checked.plaintext,
      json: checked.plaintext === undefined ? undefined : parseJson(checked.plaintext.toString('utf8')),
      attempt: checked.attempt, status: checked.answer.hang ? 0 : checked.answer.status, reason: checked.reason,
      connection, receivedAt, receivedAtPerf,
    }, subscription);
    if (!checked.answer.hang) upstream.later(() => respond(response, checked));
  }

  const { server } = upstream;
  // Numbered at their first request: an HTTP/2 session, or an HTTP/1.1 socket
  // (request.socket of an HTTP/2 request is a proxy, new each time).
  const connectionIds = new WeakMap<object, number>();
  let connectionsNumbered = 0;
  const connectionOf = (request: Request): number => {
    const connection: object = (request.stream as http2.ServerHttp2Stream | undefined)?.session ?? request.socket;
    let id = connectionIds.get(connection);
    if (id === undefined) connectionIds.set(connection, (id = connectionsNumbered += 1));
    return id;
  };
  server.on('request', (request: Request, response: Response) => {
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    response.once('close', () => (inFlight -= 1));
    handle(request, response, connectionOf(request)).catch(() => response.stream?.destroy());
  });
  url = await upstream.listen();

  return {
    url,
    caFile: upstream.tls.caFile,
    ca: upstream.tls.cert,
    subscribe(subscribeOptions = {}) {
      const keys = createUserAgentKeys();
      const endpoint = `${url}/push/${randomBytes(12).toString('base64url')}`;
      subscriptions.set(endpoint, {
        endpoint, keys, answers: subscribeOptions.answers ?? [],
        applicationServerKey: subscribeOptions.applicationServerKey ?? options.vapidPublicKey,
        active: true, received: [],
      });
      return { endpoint, keys: { p256dh: keys.publicKey.toString('base64url'), auth: keys.authSecret.toString('base64url') } };
    },
    unsubscribe(endpoint) {
      const subscription = subscriptions.get(endpoint);
      if (subscription) subscription.active = false;
    },
    requests: requests.kept,
    received: (endpoint) => subscriptions.get(endpoint)?.received ?? [],
    tries,
    get connections() {
      return upstream.connections;
    },
    requestsByHttpVersion,
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    waitForRequest: (match) => requests.waitFor(match),
    close() {
      requests.close();
      return upstream.close();
    },
  };
}

/** A VAPID key pair as `web-push generate-vapid-keys` prints it: base64url point and scalar. */
function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const ecdh = createECDH('prime256v1');
  const publicKey = ecdh.generateKeys().toString('base64url');
  return { publicKey, privateKey: ecdh.getPrivateKey().toString('base64url') };
}

/**
 * Standalone: subscribe `--subscriptions` browsers, write their PushSubscription
 * JSON one a line, print one JSON line (url, caFile, the VAPID keys, the
 * subscriptions file), serve until SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
      'max-streams': { type: 'string', default: '100' },
      subscriptions: { type: 'string', default: '1' },
    },
  });
  const vapid = generateVapidKeys();
  const fake = await startFakeWebPush({
    vapidPublicKey: vapid.publicKey,
    port: Number(values.port),
    latencyMs: Number(values['latency-ms']),
    maxConcurrentStreams: Number(values['max-streams']),
    maxRecords: 0,
  });
  const dir = mkdtempSync(join(tmpdir(), 'gocm-fake-webpush-'));
  const vapidPrivateKeyFile = join(dir, 'vapid.key');
  writeFileSync(vapidPrivateKeyFile, `${vapid.privateKey}\n`, { mode: 0o600 });
  const subscriptionsFile = join(dir, 'subscriptions.ndjson');
  const lines = Array.from({ length: Number(values.subscriptions) }, () => JSON.stringify(fake.subscribe()));
  writeFileSync(subscriptionsFile, lines.map((line) => `${line}\n`).join(''));
  process.stdout.write(`${JSON.stringify({ url: fake.url, caFile: fake.caFile, vapidPublicKey: vapid.publicKey, vapidPrivateKeyFile, subscriptions: subscriptionsFile })}\n`);
  const stop = () => {
    void fake.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      const sends = [...fake.tries.values()].reduce((sum, count) => sum + count, 0);
      process.stderr.write(`${JSON.stringify({ endpoints: fake.tries.size, sends, connections: fake.connections, peakInFlight: fake.peakInFlight, requestsByHttpVersion: Object.fromEntries(fake.requestsByHttpVersion) })}\n`);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`fake-webpush: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
