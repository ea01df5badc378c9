// A fake legacy (GCM) endpoint on 127.0.0.1 for tests and benchmarks: each token's
// prefix scripts its answer, the first token's prefix scripts the whole request.
// Plain HTTP/1.1, or HTTPS with HTTP/2 (100 streams per connection, HTTP/1.1
// still offered). In-process for tests; standalone for benchmarks:
//   node dist/test/support/fake-gcm.js --tls --port 0 --latency-ms 200 --apikey KEY
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseObject } from '../../src/guards.js';
import { makeTlsFixture, type TlsFixture } from './tls.js';

/** What the whole request gets; by default chosen by the first token's prefix. */
export type FakeGcmBehaviour = 'normal' | 'err500' | 'err400' | 'garbage' | 'hang' | 'reset' | 'huge';

type Request = IncomingMessage | http2.Http2ServerRequest;
type Response = ServerResponse | http2.Http2ServerResponse;

/** A valid answer padded past any sane bound: a 1,000-token answer is ~60 kB. */
const HUGE_PADDING = 'x'.repeat(300 * 1024);

export interface FakeGcmOptions {
  /** Wait this long before answering each request. */
  readonly latencyMs?: number;
  /** Answer 401 unless the request carries `Authorization: key=<apiKey>`. */
  readonly apiKey?: string;
  /** Force one behaviour on every request, whatever its tokens. */
  readonly behaviour?: FakeGcmBehaviour;
  /** Called for each request once its body is read, before it is answered. */
  readonly onRequest?: (request: FakeGcmRequest) => void;
  /** HTTPS + HTTP/2 with a throw-away certificate; default plain HTTP/1.1. */
  readonly tls?: boolean;
  readonly port?: number;
  /** No request is answered before this resolves (tests look at the daemon while requests are out). */
  readonly hold?: Promise<unknown>;
}

export interface FakeGcmRequest {
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly body: unknown;
}

export interface FakeGcm {
  /** The send URL, for --gcm-endpoint. */
  readonly url: string;
  /** With `tls`: the certificate to trust (NODE_EXTRA_CA_CERTS, or a transport's `ca`). */
  readonly caFile: string | undefined;
  readonly ca: string | undefined;
  /** Every request, by HTTP version ("2.0", "1.1"). */
  readonly requestsByHttpVersion: Map<string, number>;
  /** With latencyMs: the most answers ever pending at once (shows multiplexing). */
  readonly peakInFlight: number;
  /** Requests received so far. */
  readonly requests: number;
  /** TCP connections accepted so far: shows whether a client keeps them alive. */
  readonly connections: number;
  /** How many times each token was received. */
  readonly tokensSeen: Map<string, number>;
  /** The keys of every `Authorization: key=…` header received. */
  readonly apiKeysSeen: Set<string>;
  /** Stop listening and drop every connection, idle keep-alive ones and hung requests included. */
  close(): Promise<void>;
}

type TokenResult = { message_id: string; registration_id?: string } | { error: string };

// Compiled once: benchmarks push millions of tokens through tokenResult.
const FLAKY = /^flaky(\d+)-/;
const RETRY_AFTER = /^retryafter(\d+)-/;

/** The N of a `<prefix><N>-…` token, or undefined. */
function countIn(token: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(token);
  return match ? Number(match[1]) : undefined;
}

/** The per-token answer; `seen` counts this request too. */
function tokenResult(token: string, seen: number, id: number): TokenResult {
  const success = { message_id: `0:${id}%fake` };
  if (token.startsWith('canon')) return { ...success, registration_id: `new-${token}` };
  if (token.startsWith('gone')) return { error: 'NotRegistered' };
  if (token.startsWith('invalid')) return { error: 'InvalidRegistration' };
  if (token.startsWith('unavail')) return { error: 'Unavailable' };
  const flaky = countIn(token, FLAKY);
  if (flaky !== undefined && seen <= flaky) return { error: 'Unavailable' };
  return success;
}

function behaviourOf(first: string): FakeGcmBehaviour {
  for (const behaviour of ['err500', 'err400', 'garbage', 'hang', 'reset', 'huge'] as const) {
    if (first.startsWith(behaviour)) return behaviour;
  }
  return 'normal';
}


function registrationIds(body: unknown): string[] | undefined {
  const ids = (body as { registration_ids?: unknown } | undefined)?.registration_ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000) return undefined;
  return ids.every((id) => typeof id === 'string') ? (ids as string[]) : undefined;
}

function answer(response: Response, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': status === 200 ? 'application/json; charset=UTF-8' : 'text/html; charset=UTF-8', ...headers });
  response.end(body);
}

export async function startFakeGcm(options: FakeGcmOptions = {}): Promise<FakeGcm> {
  const tokensSeen = new Map<string, number>();
  const apiKeysSeen = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let connections = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  let nextId = 1;
  const requestsByHttpVersion = new Map<string, number>();
  const sockets = new Set<Socket>();
  let closing: Promise<void> | undefined;

  /** `seen[i]`: how many times tokens[i] had been received when this request came in. */
  function respond(response: Response, tokens: string[], seen: number[]): void {
    const first = tokens[0] ?? '';
    const behaviour = options.behaviour ?? behaviourOf(first);
    if (behaviour === 'hang') return;
    // HTTP/2: reset the stream (RST_STREAM), not the whole connection.
    if (behaviour === 'reset') return void ('stream' in response ? response.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) : response.socket?.destroy());
    if (behaviour === 'err500') return answer(response, 500, '<html><body>Internal Server Error</body></html>');
    if (behaviour === 'err400') return answer(response, 400, 'JSON_PARSING_ERROR');
    if (behaviour === 'garbage') return answer(response, 200, '<html><body>Welcome to nginx!</body></html>', { 'content-type': 'text/html' });
    const retryAfter = countIn(first, RETRY_AFTER);
    if (retryAfter !== undefined && seen[0] === 1) {
      return answer(response, 503, 'Service Unavailable', { 'retry-after': String(retryAfter) });
    }
    // Results in the same order as registration_ids: the multicast contract.
    const results = tokens.map((token, i) => tokenResult(token, seen[i] ?? 0, nextId++));
    const failure = results.filter((result) => 'error' in result).length;
    const canonical = results.filter((result) => 'registration_id' in result).length;
    const padding = behaviour === 'huge' ? { padding: HUGE_PADDING } : {};
    answer(response, 200, JSON.stringify({ multicast_id: nextId++, success: results.length - failure, failure, canonical_ids: canonical, results, ...padding }));
  }

  async function handle(request: Request, response: Response): Promise<void> {
    requestsByHttpVersion.set(request.httpVersion, (requestsByHttpVersion.get(request.httpVersion) ?? 0) + 1);
    const text = await readBody(request);
    requests += 1;
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('key=')) apiKeysSeen.add(authorization.slice(4));
    const body = parseObject(text);
    options.onRequest?.({ authorization, contentType: request.headers['content-type'], body });
    const tokens = registrationIds(body);
    // Counted on arrival, so that latency cannot reorder a flaky token's tries.
    const seen = (tokens ?? []).map((token) => {
      const count = (tokensSeen.get(token) ?? 0) + 1;
      tokensSeen.set(token, count);
      return count;
    });
    if (options.apiKey !== undefined && authorization !== `key=${options.apiKey}`) {
      return answer(response, 401, '<HTML><HEAD><TITLE>Unauthorized</TITLE></HEAD><BODY>Error 401</BODY></HTML>');
    }
    if (request.method !== 'POST' || !tokens) return answer(response, 400, 'registration_ids: 1 to 1000 strings');
    if (options.hold) await options.hold;
    if (!options.latencyMs) return respond(response, tokens, seen);
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const timer = setTimeout(() => {
      timers.delete(timer);
      inFlight -= 1;
      respond(response, tokens, seen);
    }, options.latencyMs);
    timers.add(timer);
  }

  const onRequest = (request: Request, response: Response): void => {
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
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/fcm/send`,
    caFile: tls?.caFile,
    ca: tls?.cert,
    requestsByHttpVersion,
    get peakInFlight() {
      return peakInFlight;
    },
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    tokensSeen,
    apiKeysSeen,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        // Hung requests and idle keep-alive sockets would hold close() open forever.
        for (const socket of sockets) socket.destroy();
      }).finally(() => tls?.remove());
      return closing;
    },
  };
}

/** Standalone: print one JSON line (url, caFile), serve until SIGTERM/SIGINT, then print what it saw on stderr. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
      apikey: { type: 'string' },
      tls: { type: 'boolean', default: false },
    },
  });
  const fake = await startFakeGcm({
    tls: values.tls,
    port: Number(values.port),
    latencyMs: Number(values['latency-ms']),
    ...(values.apikey === undefined ? {} : { apiKey: values.apikey }),
  });
  process.stdout.write(`${JSON.stringify({ url: fake.url, caFile: fake.caFile })}\n`);
  const stop = (): void => {
    void fake.close().finally(() => {
      const seen = { requests: fake.requests, tokens: fake.tokensSeen.size, connections: fake.connections, peakInFlight: fake.peakInFlight, requestsByHttpVersion: Object.fromEntries(fake.requestsByHttpVersion) };
      process.stderr.write(`${JSON.stringify(seen)}\n`);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`fake-gcm: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
