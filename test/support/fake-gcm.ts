// A fake legacy (GCM) upstream on 127.0.0.1 for tests and benchmarks: each token's
// prefix scripts its answer, the first token's prefix scripts the whole request.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';

/** What the whole request gets; by default chosen by the first token's prefix. */
export type FakeGcmBehaviour = 'normal' | 'err500' | 'err400' | 'garbage' | 'hang' | 'reset';

export interface FakeGcmOptions {
  /** Wait this long before answering each request. */
  readonly latencyMs?: number;
  /** Answer 401 unless the request carries `Authorization: key=<apiKey>`. */
  readonly apiKey?: string;
  /** Force one behaviour on every request, whatever its tokens. */
  readonly behaviour?: FakeGcmBehaviour;
  /** Called for each request once its body is read, before it is answered. */
  readonly onRequest?: (request: FakeGcmRequest) => void;
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
  for (const behaviour of ['err500', 'err400', 'garbage', 'hang', 'reset'] as const) {
    if (first.startsWith(behaviour)) return behaviour;
  }
  return 'normal';
}


function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function registrationIds(body: unknown): string[] | undefined {
  const ids = (body as { registration_ids?: unknown } | undefined)?.registration_ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000) return undefined;
  return ids.every((id) => typeof id === 'string') ? (ids as string[]) : undefined;
}

function answer(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': status === 200 ? 'application/json; charset=UTF-8' : 'text/html; charset=UTF-8', ...headers });
  response.end(body);
}

export async function startFakeGcm(options: FakeGcmOptions = {}): Promise<FakeGcm> {
  const tokensSeen = new Map<string, number>();
  const apiKeysSeen = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let connections = 0;
  let nextId = 1;
  let closing: Promise<void> | undefined;

  /** `seen[i]`: how many times tokens[i] had been received when this request came in. */
  function respond(response: ServerResponse, tokens: string[], seen: number[]): void {
    const first = tokens[0] ?? '';
    const behaviour = options.behaviour ?? behaviourOf(first);
    if (behaviour === 'hang') return;
    if (behaviour === 'reset') return void response.socket?.destroy();
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
    answer(response, 200, JSON.stringify({ multicast_id: nextId++, success: results.length - failure, failure, canonical_ids: canonical, results }));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const text = await readBody(request);
    requests += 1;
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('key=')) apiKeysSeen.add(authorization.slice(4));
    const body = parseJson(text);
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
    const timer = setTimeout(() => {
      timers.delete(timer);
      respond(response, tokens, seen);
    }, options.latencyMs);
    timers.add(timer);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/fcm/send`,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    tokensSeen,
    apiKeysSeen,
    close() {
      closing ??= new Promise((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        // Hung requests and idle keep-alive sockets would hold close() open forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
