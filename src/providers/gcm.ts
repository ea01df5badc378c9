// The legacy `gcm` provider: key-based multicast POSTs (up to 1000 tokens each)
// over the shared transport (HTTP/2 over https://); gcm-outcome.ts reads the answer.
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MessageContent } from '../message.js';
import { gcmOutcomes } from './gcm-outcome.js';
import type { MessageToSend, Outcome, Provider } from './provider.js';
import { networkOutcome, parseRetryAfter } from './answers.js';
import { SendsInFlight } from './sends.js';
import { createTransport, type ProviderLimits, transportOptions } from './transport/create.js';

/** A dry run sets dry_run on every request, whatever the message says. */
export interface GcmOptions extends ProviderLimits {
  /** The full send URL, e.g. https://fcm.googleapis.com/fcm/send. */
  readonly endpoint: string;
  /** The server key (a secret: it goes only into the Authorization header). */
  readonly apiKey: string;
}

/** The legacy protocol's documented cap on `registration_ids`. */
const MAX_TOKENS_PER_REQUEST = 1000;
/**
 * The answer to 1,000 tokens: ~60 kB of message ids, up to ~230 kB when every
 * result carries a canonical registration_id (a ~160-character token each).
 */
const MAX_ANSWER_BYTES = 256 * 1024;

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
  // --dry-run wins over a message's "dry_run": false: a staging host never sends for real.
  if (dryRun || content.dry_run === true) request.dry_run = true;
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

export function createGcmProvider(options: GcmOptions, log: Logger): Provider {
  if (!options.apiKey) throw new ConfigError('--provider gcm needs a key: --apikey-file FILE or $GOCM_APIKEY');
  const endpoint = new URL(options.endpoint);
  const path = endpoint.pathname + endpoint.search;
  if (isGoogleHost(endpoint.hostname)) {
    log.warn(
      { endpoint: endpoint.origin + endpoint.pathname },
      'Google shut the legacy GCM/FCM API down in July 2024; this endpoint will refuse every request. Use --provider fcm (HTTP v1) for Google, or point --gcm-endpoint at a server that still speaks the legacy protocol',
    );
  }
  // Built once: the key lives only here and in the outgoing requests, never in a log line.
  const headers = { authorization: `key=${options.apiKey}`, 'content-type': 'application/json' };
  const transport = createTransport(endpoint, transportOptions(options, { maxBodyBytes: MAX_ANSWER_BYTES }));
  const sends = new SendsInFlight();

  async function post(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    try {
      const body = requestBody(message.content, tokens, options.dryRun);
      const response = await transport.request({ method: 'POST', path, headers, body });
      if (response.status !== 200) log.debug({ msg_id: message.id, status: response.status, tokens: tokens.length }, 'the legacy endpoint refused the request');
      return gcmOutcomes(response.status, response.body, parseRetryAfter(response.headers['retry-after'], Date.now()), tokens);
    } catch (error) {
      const outcome = networkOutcome(error);
      log.debug({ msg_id: message.id, outcome, tokens: tokens.length }, 'the legacy endpoint was not reached');
      return tokens.map(() => outcome);
    }
  }

  return {
    name: 'gcm',
    maxTokensPerRequest: MAX_TOKENS_PER_REQUEST,
    async send(message, tokens) {
      if (tokens.length === 0) return [];
      // Callers chunk already; splitting here keeps an oversized call from being refused whole.
      const parts = await sends.all(chunks(tokens, MAX_TOKENS_PER_REQUEST), (part) => post(message, part));
      return parts.flat();
    },
    close() {
      return sends.close(() => transport.close());
    },
    destroy() {
      // Requests in flight reject inside post() and come back as retry outcomes.
      return transport.destroy();
    },
  };
}
