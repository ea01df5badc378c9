// A fake FCM HTTP v1 service: Google's OAuth2 token endpoint and messages:send,
// each token's outcome scripted by its prefix. A real server: HTTPS with HTTP/2
// (HTTP/1.1 still offered) or plain HTTP/1.1, on 127.0.0.1. In-process for tests;
// standalone for demos and benchmarks:
//   node dist/test/support/fake-fcm.js --port 0 --latency-ms 200 --tls
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateServiceAccountKey, TEST_CLIENT_EMAIL, writeServiceAccount } from './service-account.js';
import { makeTlsFixture, type TlsFixture } from './tls.js';
import { text as readBody } from 'node:stream/consumers';

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const TOKEN_PATH = '/token';
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

export interface FakeFcmOptions {
  /** Verifies the JWT assertions the token endpoint receives. */
  readonly publicKey: KeyObject;
  /** The `iss` assertions must carry. Default: TEST_CLIENT_EMAIL. */
  readonly clientEmail?: string;
  /** HTTPS + HTTP/2 with a throw-away certificate; default plain HTTP/1.1. */
  readonly tls?: boolean;
  readonly port?: number;
  /** `expires_in` of granted tokens, in seconds. Default 3599, as Google. */
  readonly expiresInS?: number;
  /** Answer messages:send after this delay. */
  readonly latencyMs?: number;
  /** Message bodies kept (the latest) for assertions. Default 1000. */
  readonly maxBodies?: number;
}

export interface FakeFcm {
  readonly url: string;
  readonly tokenUri: string;
  /** With `tls`: the certificate to trust (NODE_EXTRA_CA_CERTS). */
  readonly caFile: string | undefined;
  /** Access tokens granted so far. */
  readonly grants: number;
  /** messages:send requests that got past authorisation, by device token. */
  readonly sends: Map<string, number>;
  /** Every request, by HTTP version ("2.0", "1.1"). */
  readonly requestsByHttpVersion: Map<string, number>;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** With latencyMs: the most messages:send answers ever pending at once (shows multiplexing). */
  readonly peakInFlight: number;
  /** The latest message bodies received, parsed. */
  readonly bodies: unknown[];
  /** The next `count` messages:send requests get 401 UNAUTHENTICATED. */
  rejectNextSends(count: number): void;
  /** Every access token granted so far stops working. */
  revokeAccessTokens(): void;
  /** The next `count` token requests get `status` (and Retry-After, if given) instead of a token. */
  failNextTokenRequests(count: number, status?: number, retryAfterS?: number): void;
  close(): Promise<void>;
}

/**
 * Tokens that draw no answer: `hang` never answers, `reset` resets the stream
 * (HTTP/2 RST_STREAM; HTTP/1.1 the connection), `midreset` does so after the
 * headers and part of the body.
 */
const FAULTS = ['hang', 'midreset', 'reset'] as const;
type Fault = (typeof FAULTS)[number];

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const json = (status: number, value: unknown, headers?: Record<string, string>): Answer => ({ status, body: JSON.stringify(value), headers });
const rpcError = (code: number, status: string, message: string, errorCode?: string): Answer =>
  json(code, { error: { code, message, status, details: errorCode ? [{ '@type': FCM_ERROR, errorCode }] : [] } });
const html = (status: number): Answer => ({ status, body: '<html><body><h1>Bad Gateway</h1></body></html>', headers: { 'content-type': 'text/html' } });

function decodeSegment(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Why the assertion is refused, or undefined when it is good. */
function assertionProblem(assertion: string, publicKey: KeyObject, clientEmail: string, audience: string): string | undefined {
  const [header, claims, signature] = assertion.split('.');
  const head = decodeSegment(header);
  if (head?.alg !== 'RS256' || head.typ !== 'JWT') return 'bad JWT header';
  if (!verify('sha256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature ?? '', 'base64url'))) return 'Invalid JWT Signature.';
  const claim = decodeSegment(claims);
  const now = Date.now() / 1000;
  if (claim?.iss !== clientEmail) return 'wrong iss';
  if (claim.scope !== SCOPE) return 'wrong scope';
  if (claim.aud !== audience) return 'wrong aud';
  if (typeof claim.iat !== 'number' || typeof claim.exp !== 'number') return 'no iat/exp';
  if (claim.exp <= now || claim.exp - claim.iat > 3600) return 'Invalid JWT: Token must be a short-lived token (60 minutes)';
  return undefined;
}


export async function startFakeFcm(options: FakeFcmOptions): Promise<FakeFcm> {
  const clientEmail = options.clientEmail ?? TEST_CLIENT_EMAIL;
  const maxBodies = options.maxBodies ?? 1000;
  const granted = new Set<string>();
  const sends = new Map<string, number>();
  const requestsByHttpVersion = new Map<string, number>();
  const bodies: unknown[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let grants = 0;
  let connections = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  let rejectSends = 0;
  let failTokens = 0;
  let failTokenStatus = 503;
  let failTokenRetryAfter: Record<string, string> | undefined;
  let messageIds = 0;
  let tokenUri = '';

  function grant(form: string): Answer {
    if (failTokens > 0) {
      failTokens -= 1;
      return json(failTokenStatus, { error: 'internal_failure', error_description: 'scripted failure' }, failTokenRetryAfter);
    }
    const params = new URLSearchParams(form);
    if (params.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return json(400, { error: 'unsupported_grant_type' });
    const problem = assertionProblem(params.get('assertion') ?? '', options.publicKey, clientEmail, tokenUri);
    if (problem) return json(400, { error: 'invalid_grant', error_description: problem });
    grants += 1;
    const accessToken = `ya29.fake-${grants}-${randomBytes(12).toString('base64url')}`;
    granted.add(accessToken);
    return json(200, { access_token: accessToken, expires_in: options.expiresInS ?? 3599, token_type: 'Bearer' });
  }

  function send(project: string, authorization: string | undefined, text: string): Answer | Fault {
    if (rejectSends > 0 || !granted.has(authorization?.replace(/^Bearer /, '') ?? '')) {
      rejectSends = Math.max(0, rejectSends - 1);
      return rpcError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    }
    let body: { validate_only?: unknown; message?: { token?: unknown; data?: Record<string, unknown> } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return rpcError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const token = body.message?.token;
    if (typeof token !== 'string') return rpcError(400, 'INVALID_ARGUMENT', 'message.token is required');
    if (maxBodies > 0) {
      if (bodies.length >= maxBodies) bodies.shift();
      bodies.push(body);
    }
    const count = (sends.get(token) ?? 0) + 1;
    sends.set(token, count);
    if (Object.values(body.message?.data ?? {}).some((value) => typeof value !== 'string')) {
      return rpcError(400, 'INVALID_ARGUMENT', "Invalid value at 'message.data[0].value' (TYPE_STRING)");
    }
    const flaky = /^flaky(\d+)-/.exec(token);
    for (const fault of FAULTS) if (token.startsWith(fault)) return fault;
    if (token.startsWith('gone')) return rpcError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    if (token.startsWith('mismatch')) return rpcError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    if (token.startsWith('invalid')) return rpcError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT');
    if (token.startsWith('thirdparty')) return rpcError(401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service', 'THIRD_PARTY_AUTH_ERROR');
    if (token.startsWith('internal')) return rpcError(500, 'INTERNAL', 'Internal error encountered.', 'INTERNAL');
    if (token.startsWith('garbage200')) return html(200);
    if (token.startsWith('garbage')) return html(502);
    if (token.startsWith('quota') && count === 1) {
      return { ...rpcError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', 'QUOTA_EXCEEDED'), headers: { 'retry-after': '1' } };
    }
    if (flaky && count <= Number(flaky[1])) return rpcError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE');
    // ok… and any other token: delivered. FCM names validate-only messages this way.
    const id = body.validate_only === true ? 'fake_message_id' : String((messageIds += 1));
    return json(200, { name: `projects/${project}/messages/${id}` });
  }

  function misbehave(response: Response, fault: Fault): void {
    if (fault === 'hang') return;
    const reset = (): void => void ('stream' in response ? response.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) : response.socket?.destroy());
    if (fault === 'reset') return reset();
    const head = { 'content-type': 'application/json; charset=UTF-8' };
    const start = '{"name":"projects/';
    if ('stream' in response) response.writeHead(200, head).write(start);
    else response.writeHead(200, head).write(start);
    setImmediate(reset);
  }

  function respond(response: Response, answer: Answer): void {
    response.statusCode = answer.status;
    response.setHeader('content-type', 'application/json; charset=UTF-8');
    for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
    response.end(answer.body);
  }

  async function handle(request: Request, response: Response): Promise<void> {
    requestsByHttpVersion.set(request.httpVersion, (requestsByHttpVersion.get(request.httpVersion) ?? 0) + 1);
    const text = await readBody(request);
    const path = request.url ?? '';
    if (request.method === 'POST' && path === TOKEN_PATH) return respond(response, grant(text));
    const route = SEND_PATH.exec(path);
    if (request.method !== 'POST' || !route) return respond(response, rpcError(404, 'NOT_FOUND', `no route ${path}`));
    const answer = send(decodeURIComponent(route[1] ?? ''), request.headers.authorization, text);
    if (typeof answer === 'string') return misbehave(response, answer);
    if (!options.latencyMs) return respond(response, answer);
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const timer = setTimeout(() => {
      timers.delete(timer);
      inFlight -= 1;
      respond(response, answer);
    }, options.latencyMs);
    timers.add(timer);
  }

  const onRequest = (request: Request, response: Response) => {
    handle(request, response).catch(() => ('stream' in response ? response.stream.destroy() : response.destroy()));
  };
  let tls: TlsFixture | undefined;
  let server: http.Server | http2.Http2SecureServer;
  if (options.tls) {
    tls = makeTlsFixture();
    server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true, settings: { maxConcurrentStreams: 100 } }, onRequest);
  } else {
    server = http.createServer({ keepAlive: true }, onRequest);
  }
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  tokenUri = `${url}${TOKEN_PATH}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    tokenUri,
    caFile: tls?.caFile,
    get grants() {
      return grants;
    },
    sends,
    requestsByHttpVersion,
    get connections() {
      return connections;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    bodies,
    rejectNextSends: (count) => void (rejectSends = count),
    revokeAccessTokens: () => granted.clear(),
    failNextTokenRequests: (count, status = 503, retryAfterS) => {
      failTokens = count;
      failTokenStatus = status;
      failTokenRetryAfter = retryAfterS === undefined ? undefined : { 'retry-after': String(retryAfterS) };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.close(() => resolve());
        // Hung requests and keep-alive connections would hold close() open.
        for (const socket of sockets) socket.destroy();
      }).finally(() => tls?.remove());
      return closing;
    },
  };
}

/** Standalone: print one JSON line (url, tokenUri, caFile, credentials), serve until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
      'expires-in': { type: 'string', default: '3599' },
      'max-bodies': { type: 'string', default: '0' },
      tls: { type: 'boolean', default: false },
    },
  });
  const key = generateServiceAccountKey();
  const fake = await startFakeFcm({
    publicKey: key.publicKey,
    tls: values.tls,
    port: Number(values.port),
    latencyMs: Number(values['latency-ms']),
    expiresInS: Number(values['expires-in']),
    maxBodies: Number(values['max-bodies']),
  });
  const dir = mkdtempSync(join(tmpdir(), 'gocm-fake-fcm-'));
  const account = writeServiceAccount(dir, { tokenUri: fake.tokenUri, key });
  process.stdout.write(`${JSON.stringify({ url: fake.url, tokenUri: fake.tokenUri, caFile: fake.caFile, credentials: account.path, projectId: account.projectId })}\n`);
  const stop = () => {
    void fake.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`${JSON.stringify({ grants: fake.grants, tokens: fake.sends.size, requestsByHttpVersion: Object.fromEntries(fake.requestsByHttpVersion) })}\n`);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`fake-fcm: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
