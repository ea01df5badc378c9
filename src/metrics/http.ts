// The metrics listener (--metrics, or a systemd socket named `metrics`):
// GET /metrics in Prometheus' text format, GET /healthz as a status and a
// small JSON reason. Nothing else: every other path is 404, every other
// method 405.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { Health } from './health.js';

/** Scrapers and health checkers are few: enough for a few of each, not an open door. */
const MAX_CONNECTIONS = 64;
/** A client that has not sent its request by then is cut off (Node's own default is 300 s). */
const REQUEST_TIMEOUT_MS = 10_000;

export interface MetricsEndpoints {
  /** The exposition, and its content type. */
  readonly metrics: () => Promise<string>;
  readonly contentType: string;
  readonly health: () => Promise<Health>;
}

export function createMetricsServer(endpoints: MetricsEndpoints, log: Logger): Server {
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    serve(endpoints, request, response).catch((error: unknown) => {
      log.error({ err: error, path: request.url }, 'metrics request failed');
      if (!response.headersSent) answer(response, 500, 'text/plain; charset=utf-8', 'internal error (see the daemon log)\n');
      else response.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('error', (error) => log.error({ err: error }, 'metrics listener error'));
  return server;
}

async function serve(endpoints: MetricsEndpoints, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') {
    return answer(response, 404, 'text/plain; charset=utf-8', 'not found: GET /metrics or /healthz\n');
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    return answer(response, 405, 'text/plain; charset=utf-8', `${request.method ?? '?'} is not allowed: GET ${path}\n`);
  }
  // To a HEAD request, Node sends the headers and leaves the body out.
  if (path === '/metrics') return answer(response, 200, endpoints.contentType, await endpoints.metrics());
  const health = await endpoints.health();
  answer(response, health.ok ? 200 : 503, 'application/json', `${JSON.stringify(health)}\n`);
}

function answer(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}
