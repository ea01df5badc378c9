// A legacy (GCM) upstream on 127.0.0.1 that misbehaves where the fake in
// test/support does not: mid-response resets, truncated and stalled bodies,
// HTML labelled JSON, results that do not fit. The first token's prefix picks
// the behaviour; every token received is counted, every Authorization kept.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { text as readBody } from 'node:stream/consumers';

const BEHAVIOURS = {
  /** 200 and the start of a JSON body, then the connection is reset. */
  midreset: (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"multicast_id":1,"success":1,"results":[{"message_id":');
    setImmediate(() => response.socket?.destroy());
  },
  /** A Content-Length the body never reaches: the connection closes cleanly part way. */
  truncated: (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
    response.write('{"multicast_id":1,');
    setImmediate(() => response.socket?.end());
  },
  /** Headers at once, then the body stops coming: only the body timeout ends it. */
  stall: (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"multicast_id":1,');
  },
  /** Nothing at all: only the headers timeout ends it. */
  hang: () => undefined,
  /** The connection is dropped before any answer. */
  reset: (response: ServerResponse) => void response.socket?.destroy(),
  /** A proxy's error page, labelled JSON, with status 200. */
  html: (response: ServerResponse) => answer(response, 200, '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>'),
  empty: (response: ServerResponse) => answer(response, 200, ''),
  nullresults: (response: ServerResponse) => answer(response, 200, '{"multicast_id":1,"success":0,"failure":0,"results":null}'),
  /** One result more than tokens sent: which is which cannot be known. */
  wrongcount: (response: ServerResponse, tokens: readonly string[]) =>
    answer(response, 200, JSON.stringify({ multicast_id: 1, results: [...tokens, 'extra'].map((_, i) => ({ message_id: `0:${i}` })) })),
  err500: (response: ServerResponse) => answer(response, 500, '<html><body>Internal Server Error</body></html>', 'text/html'),
  err503: (response: ServerResponse) => answer(response, 503, 'Service Unavailable', 'text/plain'),
  unauth: (response: ServerResponse) => answer(response, 401, '<HTML><HEAD><TITLE>Unauthorized</TITLE></HEAD><BODY>Error 401</BODY></HTML>', 'text/html'),
  /** A redirect the client must not follow: final. */
  redirect: (response: ServerResponse) => {
    response.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' });
    response.end();
  },
} satisfies Record<string, (response: ServerResponse, tokens: readonly string[]) => void>;

export type RogueBehaviour = keyof typeof BEHAVIOURS;
export const ROGUE_BEHAVIOURS = Object.keys(BEHAVIOURS) as RogueBehaviour[];

function answer(response: ServerResponse, status: number, body: string, type = 'application/json; charset=UTF-8'): void {
  response.writeHead(status, { 'content-type': type });
  response.end(body);
}

function ok(response: ServerResponse, tokens: readonly string[]): void {
  const results = tokens.map((_, i) => ({ message_id: `0:${i}%rogue` }));
  answer(response, 200, JSON.stringify({ multicast_id: 1, success: results.length, failure: 0, canonical_ids: 0, results }));
}

export interface RogueGcm {
  readonly url: string;
  /** How many times each token was received. */
  readonly tokensSeen: Map<string, number>;
  /** Every Authorization header received. */
  readonly authorizations: Set<string>;
  close(): Promise<void>;
}


function tokensOf(text: string): string[] {
  try {
    const ids = (JSON.parse(text) as { registration_ids?: unknown }).registration_ids;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

export async function startRogueGcm(): Promise<RogueGcm> {
  const tokensSeen = new Map<string, number>();
  const authorizations = new Set<string>();
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    void readBody(request).then((text) => {
      if (request.headers.authorization) authorizations.add(request.headers.authorization);
      const tokens = tokensOf(text);
      for (const token of tokens) tokensSeen.set(token, (tokensSeen.get(token) ?? 0) + 1);
      const behaviour = ROGUE_BEHAVIOURS.find((name) => tokens[0]?.startsWith(name));
      if (behaviour) BEHAVIOURS[behaviour](response, tokens);
      else ok(response, tokens);
    }, () => response.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/fcm/send`,
    tokensSeen,
    authorizations,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
