// The legacy `gcm` provider: key-based multicast POSTs (up to 1000 tokens each)
// over a keep-alive undici Pool; the answer is read by gcm-outcome.ts.
import { Pool } from 'undici';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { MessageContent } from '../message.js';
import { gcmOutcomes, NOT_JSON, parseGcmBody } from './gcm-outcome.js';
import type { MessageToSend, Outcome, Provider } from './provider.js';
import { networkOutcome, parseRetryAfter } from './answers.js';

/** The legacy protocol's documented cap on `registration_ids`. */
const MAX_TOKENS_PER_REQUEST = 1000;

/** The legacy request body; optional fields are left out rather than sent as null. */
interface LegacyRequest {
  registration_ids: readonly string[];
  data: MessageContent['payload'];
  notification?: MessageContent['notification'];
  collapse_key?: string;
  priority?: 'normal' | 'high';
  time_to_live?: number;
  dry_run?: true;
}

function requestBody(content: MessageContent, tokens: readonly string[], dryRun: boolean): string {
  const request: LegacyRequest = { registration_ids: tokens, data: content.payload };
  if (content.notification !== undefined) request.notification = content.notification;
  if (content.collapse_key !== undefined) request.collapse_key = content.collapse_key;
  if (content.priority !== undefined) request.priority = content.priority;
  if (content.ttl !== undefined) request.time_to_live = content.ttl;
  if (content.dry_run ?? dryRun) request.dry_run = true;
  // One stringify per request, whatever the number of tokens in it.
  return JSON.stringify(request);
}

function isGoogleHost(hostname: string): boolean {
  return hostname === 'googleapis.com' || hostname.endsWith('.googleapis.com');
}

function chunks(tokens: readonly string[], size: number): (readonly string[])[] {
  const out: (readonly string[])[] = [];
  for (let i = 0; i < tokens.length; i += size) out.push(tokens.slice(i, i + size));
  return out;
}

export function createGcmProvider(config: Config, log: Logger): Provider {
  const endpoint = new URL(config.gcmEndpoint);
  const path = endpoint.pathname + endpoint.search;
  if (isGoogleHost(endpoint.hostname)) {
    log.warn(
      { endpoint: endpoint.origin + endpoint.pathname },
      'Google shut the legacy GCM/FCM API down in July 2024; this endpoint will refuse every request. Use --provider fcm (HTTP v1) for Google, or point --gcm-endpoint at a server that still speaks the legacy protocol',
    );
  }
  // Built once: the key lives only here and in the pool's outgoing requests, never in a log line.
  const headers = { authorization: `key=${config.apiKey ?? ''}`, 'content-type': 'application/json' };
  // headersTimeout starts when the request is written, so time spent queued for a
  // free connection does not count against --request-timeout; bodyTimeout bounds the rest.
  // undici runs these on its coarse timers: they fire up to ~1 s late, cheap for 10 s defaults.
  const pool = new Pool(endpoint.origin, {
    connections: config.connections,
    connectTimeout: config.requestTimeoutMs,
    headersTimeout: config.requestTimeoutMs,
    bodyTimeout: config.requestTimeoutMs,
  });
  const inFlight = new Set<Promise<Outcome[]>>();
  let closing: Promise<void> | undefined;
  let destroying: Promise<void> | undefined;

  async function post(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    try {
      const body = requestBody(message.content, tokens, config.dryRun);
      const response = await pool.request({ method: 'POST', path, headers, body });
      const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
      if (response.statusCode !== 200) {
        // Drain so the keep-alive connection can serve the next request.
        await response.body.dump();
        log.debug({ msg_id: message.id, status: response.statusCode, tokens: tokens.length }, 'legacy upstream refused the request');
        return gcmOutcomes(response.statusCode, NOT_JSON, retryAfterMs, tokens);
      }
      return gcmOutcomes(200, parseGcmBody(await response.body.text()), retryAfterMs, tokens);
    } catch (error) {
      const outcome = networkOutcome(error);
      log.debug({ msg_id: message.id, outcome, tokens: tokens.length }, 'legacy upstream not reached');
      return tokens.map(() => outcome);
    }
  }

  function track(request: Promise<Outcome[]>): Promise<Outcome[]> {
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
    return request;
  }

  return {
    name: 'gcm',
    maxTokensPerRequest: MAX_TOKENS_PER_REQUEST,
    async send(message, tokens) {
      if (tokens.length === 0) return [];
      if (tokens.length <= MAX_TOKENS_PER_REQUEST) return track(post(message, tokens));
      // Callers should chunk already; splitting here keeps an oversized call from being refused whole.
      const parts = await Promise.all(chunks(tokens, MAX_TOKENS_PER_REQUEST).map((part) => track(post(message, part))));
      return parts.flat();
    },
    close() {
      // After destroy() there is nothing left to drain, and undici refuses close() on a destroyed pool.
      if (destroying) return destroying;
      // pool.close() refuses new requests at once and resolves once those dispatched are answered;
      // every tracked request was dispatched synchronously, so none is lost.
      closing ??= Promise.all([pool.close(), ...inFlight]).then(() => undefined);
      return closing;
    },
    destroy() {
      // Requests in flight reject inside post() and come back as retry outcomes.
      destroying ??= pool.destroy();
      return destroying;
    },
  };
}
