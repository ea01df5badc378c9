// A fake APNs provider API: TLS + HTTP/2 only, as Apple's, on 127.0.0.1. It
// checks what Apple checks (apns-rules.ts: headers, payload, the ES256 provider
// token), then answers each device token's tries as the test scripted them.
// In-process for tests; standalone for benchmarks:
//   node dist/test/support/fake-apns.js --port 0 --latency-ms 200
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateApnsKey, writeApnsKey } from './apns-key.js';
import {
  deviceTokenOf, duplicateHeader, maxPayloadBytes, parseApnsHeaders, parsePayload, providerTokenAge, verifyProviderToken,
  type ApnsVerificationKey, type ProviderToken,
} from './apns-rules.js';
import { FakeServer, headerValue, readBody, Records, regularHeaders } from './fake-server.js';
import { isRefusal, refuse, type Refusal } from './refusal.js';

export interface ApnsAnswer {
  /** 200, or Apple's error status. */
  readonly status: number;
  /** Apple's reason string; none on success. */
  readonly reason?: string;
  /** 410: when APNs learnt the token was invalid, ms since the epoch. Default: the time of the answer. */
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Answer 403 ExpiredProviderToken, and from then on treat the JWT this try
   * carried — and every JWT of its key issued no later — as stale: the client
   * must mint a new one (a later iat) to get further.
   */
  readonly expireProviderToken?: boolean;
  /** Never answer: the stream stays open until the client gives up or close(). */
  readonly hang?: boolean;
}

/** Apple's answers, by the name of their reason. */
export const apnsAnswers = {
  success: { status: 200 },
  unregistered: { status: 410, reason: 'Unregistered' },
  expiredToken: { status: 410, reason: 'ExpiredToken' },
  badDeviceToken: { status: 400, reason: 'BadDeviceToken' },
  deviceTokenNotForTopic: { status: 400, reason: 'DeviceTokenNotForTopic' },
  topicDisallowed: { status: 400, reason: 'TopicDisallowed' },
  tooManyRequests: { status: 429, reason: 'TooManyRequests' },
  internalServerError: { status: 500, reason: 'InternalServerError' },
  serviceUnavailable: { status: 503, reason: 'ServiceUnavailable' },
  expiredProviderToken: { status: 403, reason: 'ExpiredProviderToken', expireProviderToken: true },
  hang: { status: 0, hang: true },
} as const satisfies Record<string, ApnsAnswer>;

/**
 * A device token's answers by try (1, 2, …); past the end of a list, or where
 * the function returns undefined, the answer is success.
 */
export type ApnsScript = ((token: string, attempt: number) => ApnsAnswer | undefined) | Readonly<Record<string, readonly ApnsAnswer[]>>;

export interface FakeApnsOptions {
  /** The signing keys whose provider tokens are good (the .p8's public half, its key id and team id). */
  readonly keys: readonly ApnsVerificationKey[];
  /** The bundle ids the team may push to; another apns-topic gets 400 TopicDisallowed. Default: any. */
  readonly topics?: readonly string[];
  readonly script?: ApnsScript;
  readonly port?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 100. */
  readonly maxConcurrentStreams?: number;
  /** Answer after this delay. */
  readonly latencyMs?: number;
  /**
   * Refuse a new provider token with 429 TooManyProviderTokenUpdates when the
   * previous one was first seen less than this long ago (Apple asks for 20
   * minutes), unless the fake itself declared that one stale. Default 0: never.
   */
  readonly minTokenUpdateIntervalMs?: number;
  /** The clock provider tokens are judged by, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
  /** Request records kept (the latest). Default 10,000. */
  readonly maxRecords?: number;
}

export interface ApnsRequestRecord {
  /** The device token of the path, when the path had one. */
  readonly token: string | undefined;
  readonly method: string;
  readonly path: string;
  /** Every regular header, lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed payload, when it got that far. */
  readonly payload: Readonly<Record<string, unknown>> | undefined;
  /** The provider token's claims, when it verified. */
  readonly providerToken: Omit<ProviderToken, 'jwt'> | undefined;
  /** This token's try number, when the request got past every check. */
  readonly attempt: number | undefined;
  /** What the fake answered (0: it never will). */
  readonly status: number;
  readonly reason: string | undefined;
  readonly apnsId: string;
  /** Which connection (1, 2, …) it came on. */
  readonly connection: number;
  readonly receivedAt: number;
  /** performance.now() at arrival. */
  readonly receivedAtPerf: number;
}

export interface ProviderTokenRecord {
  readonly kid: string;
  readonly iat: number;
  readonly firstSeenAt: number;
  readonly firstSeenAtPerf: number;
}

export interface FakeApns {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The certificate to trust: as a file (NODE_EXTRA_CA_CERTS) and as text. */
  readonly caFile: string;
  readonly ca: string;
  readonly requests: readonly ApnsRequestRecord[];
  /** Tries per device token: requests that passed every check. */
  readonly tries: ReadonlyMap<string, number>;
  /** Distinct provider tokens accepted, in the order first seen. */
  readonly providerTokens: readonly ProviderTokenRecord[];
  readonly connections: number;
  readonly requestsByHttpVersion: ReadonlyMap<string, number>;
  /** TLS connections dropped before HTTP/2: a failed handshake (no h2 offered, say), or no ALPN at all. */
  readonly refusedConnections: number;
  readonly inFlight: number;
  /** The most streams ever open at once, over all connections. */
  readonly peakInFlight: number;
  /** Replace the good keys (a rotated .p8). */
  setKeys(keys: readonly ApnsVerificationKey[]): void;
  /** Script a device token's next tries, counted from its next request. */
  script(token: string, answers: readonly ApnsAnswer[]): void;
  /** The first record, kept or still to come, that matches. Rejects at close(). */
  waitForRequest(match?: (record: ApnsRequestRecord) => boolean): Promise<ApnsRequestRecord>;
  close(): Promise<void>;
}

/** A random device token shaped like Apple's: 64 hex digits. */
export const randomDeviceToken = (): string => randomBytes(32).toString('hex');

export async function startFakeApns(options: FakeApnsOptions): Promise<FakeApns> {
  const now = options.now ?? Date.now;
  const upstream = new FakeServer(options);
  let keys = options.keys;
  const scripts = new Map<string, { readonly from: number; readonly answers: readonly ApnsAnswer[] }>();
  const requests = new Records<ApnsRequestRecord>(options.maxRecords ?? 10_000, 'fake APNs');
  const tries = new Map<string, number>();
  const providerTokens: ProviderTokenRecord[] = [];
  const acceptedJwts = new Set<string>();
  /** Per key id: a JWT issued at or before this second is stale. */
  const staleUpTo = new Map<string, number>();
  const requestsByHttpVersion = new Map<string, number>();
  let sessions = 0;
  let refusedConnections = 0;
  let inFlight = 0;
  let peakInFlight = 0;

  function scripted(token: string, attempt: number): ApnsAnswer {
    const entry = scripts.get(token);
    if (entry) return entry.answers[attempt - entry.from] ?? apnsAnswers.success;
    const script = options.script;
    if (typeof script === 'function') return script(token, attempt) ?? apnsAnswers.success;
    return script?.[token]?.[attempt - 1] ?? apnsAnswers.success;
  }

  /** Verified signatures by authorization header; cleared when the keys change. */
  const signatures = new Map<string, ProviderToken | Refusal>();
  function authenticate(authorization: string | undefined): ProviderToken | Refusal {
    let signed = signatures.get(authorization ?? '');
    if (!signed) {
      signed = verifyProviderToken(authorization, keys);
      if (signatures.size >= 10_000) signatures.clear();
      signatures.set(authorization ?? '', signed);
    }
    return isRefusal(signed) ? signed : (providerTokenAge(signed, now()) ?? signed);
  }

  const isStale = (token: { kid: string; iat: number }) => token.iat <= (staleUpTo.get(token.kid) ?? -Infinity);

  /** A provider token that verified: is it stale, or one update too many? */
  function admit(token: ProviderToken): Refusal | undefined {
    if (isStale(token)) return refuse(403, 'ExpiredProviderToken');
    if (acceptedJwts.has(token.jwt)) return undefined;
    const previous = providerTokens.at(-1);
    const interval = options.minTokenUpdateIntervalMs ?? 0;
    if (previous && !isStale(previous) && now() - previous.firstSeenAt < interval) return refuse(429, 'TooManyProviderTokenUpdates');
    acceptedJwts.add(token.jwt);
    providerTokens.push({ kid: token.kid, iat: token.iat, firstSeenAt: now(), firstSeenAtPerf: performance.now() });
    return undefined;
  }

  interface Checked {
    readonly token: string | undefined;
    readonly providerToken?: ProviderToken;
    readonly payload?: Record<string, unknown>;
    readonly answer: ApnsAnswer;
    readonly attempt?: number;
  }

  /** Apple's order, as far as it shows: the route, the provider token, the headers, the payload; then the device. */
  function check(method: string, path: string, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[], body: Buffer): Checked {
    const token = deviceTokenOf(method, path);
    if (isRefusal(token)) return { token: undefined, answer: token };
    const duplicate = duplicateHeader(rawHeaders);
    if (duplicate) return { token, answer: duplicate };
    const providerToken = authenticate(headerValue(headers.authorization));
    if (isRefusal(providerToken)) return { token, answer: providerToken };
    const notAdmitted = admit(providerToken);
    if (notAdmitted) return { token, providerToken, answer: notAdmitted };
    const apns = parseApnsHeaders((name) => headerValue(headers[name]));
    if (isRefusal(apns)) return { token, providerToken, answer: apns };
    const payload = parsePayload(body, apns.pushType);
    if (isRefusal(payload)) return { token, providerToken, answer: payload };
    if (options.topics && !options.topics.includes(apns.topic)) return { token, providerToken, payload, answer: apnsAnswers.topicDisallowed };
    const attempt = (tries.get(token) ?? 0) + 1;
    tries.set(token, attempt);
    const answer = scripted(token, attempt);
    if (answer.expireProviderToken) staleUpTo.set(providerToken.kid, Math.max(providerToken.iat, staleUpTo.get(providerToken.kid) ?? -Infinity));
    return { token, providerToken, payload, answer, attempt };
  }

  function respond(stream: http2.ServerHttp2Stream, answer: ApnsAnswer, apnsId: string): void {
    if (stream.destroyed || stream.closed) return;
    const headers: http2.OutgoingHttpHeaders = { ':status': answer.status, 'apns-id': apnsId, ...answer.headers };
    if (answer.status === 200) {
      stream.respond(headers, { endStream: true });
      return;
    }
    const body = answer.status === 410 ? { reason: answer.reason, timestamp: answer.timestamp ?? Date.now() } : { reason: answer.reason };
    stream.respond({ ...headers, 'content-type': 'application/json' });
    stream.end(JSON.stringify(body));
  }

  async function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[], connection: number): Promise<void> {
    const receivedAt = Date.now();
    const receivedAtPerf = performance.now();
    requestsByHttpVersion.set('2.0', (requestsByHttpVersion.get('2.0') ?? 0) + 1);
    const method = headerValue(headers[':method']) ?? '';
    const path = headerValue(headers[':path']) ?? '';
    const body = await readBody(stream as AsyncIterable<Buffer>, maxPayloadBytes('voip'));
    const checked = check(method, path, headers, rawHeaders, body);
    const apnsId = headerValue(headers['apns-id']) ?? randomUUID().toUpperCase();
    const signer = checked.providerToken;
    requests.add({
      token: checked.token, method, path, headers: regularHeaders(headers), payload: checked.payload,
      providerToken: signer && { kid: signer.kid, iss: signer.iss, iat: signer.iat },
      attempt: checked.attempt, status: checked.answer.hang ? 0 : checked.answer.status, reason: checked.answer.reason,
      apnsId, connection, receivedAt, receivedAtPerf,
    });
    if (!checked.answer.hang) upstream.later(() => respond(stream, checked.answer, apnsId));
  }

  const { server } = upstream;
  server.on('session', (session) => {
    const connection = (sessions += 1);
    session.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: readonly string[]) => {
      inFlight += 1;
      peakInFlight = Math.max(peakInFlight, inFlight);
      stream.on('close', () => (inFlight -= 1));
      stream.on('error', () => undefined);
      handle(stream, headers, rawHeaders, connection).catch(() => stream.destroy());
    });
  });
  // Apple speaks HTTP/2 only. A client offering ALPN without h2 fails the
  // handshake; one offering no ALPN at all is dropped at once, not after node's 10 s grace.
  server.on('tlsClientError', () => (refusedConnections += 1));
  server.on('unknownProtocol', (socket) => {
    refusedConnections += 1;
    socket.destroy();
  });
  const url = await upstream.listen();

  return {
    url,
    caFile: upstream.tls.caFile,
    ca: upstream.tls.cert,
    requests: requests.kept,
    tries,
    providerTokens,
    get connections() {
      return sessions;
    },
    requestsByHttpVersion,
    get refusedConnections() {
      return refusedConnections;
    },
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    setKeys(next) {
      keys = next;
      signatures.clear();
    },
    script: (token, answers) => void scripts.set(token, { from: (tries.get(token) ?? 0) + 1, answers }),
    waitForRequest: (match) => requests.waitFor(match),
    close() {
      requests.close();
      return upstream.close();
    },
  };
}

/** Standalone: print one JSON line (url, caFile, key file, key id, team id), serve until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
      'max-streams': { type: 'string', default: '100' },
      topic: { type: 'string', default: 'com.example.app' },
    },
  });
  const key = generateApnsKey();
  const fake = await startFakeApns({
    keys: [key],
    topics: [values.topic],
    port: Number(values.port),
    latencyMs: Number(values['latency-ms']),
    maxConcurrentStreams: Number(values['max-streams']),
    maxRecords: 0,
  });
  const dir = mkdtempSync(join(tmpdir(), 'gocm-fake-apns-'));
  const keyFile = writeApnsKey(dir, key);
  process.stdout.write(`${JSON.stringify({ url: fake.url, caFile: fake.caFile, key: keyFile, keyId: key.keyId, teamId: key.teamId, topic: values.topic })}\n`);
  const stop = () => {
    void fake.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      const sends = [...fake.tries.values()].reduce((sum, count) => sum + count, 0);
      process.stderr.write(`${JSON.stringify({ tokens: fake.tries.size, sends, connections: fake.connections, peakInFlight: fake.peakInFlight, providerTokens: fake.providerTokens.length })}\n`);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`fake-apns: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
