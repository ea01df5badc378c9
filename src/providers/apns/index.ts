// The APNs provider: one POST per device token to /3/device/<token> over
// HTTP/2 (Apple speaks nothing else), many in flight over a few connections,
// with a shared ES256 provider token.
import { isLoopback } from '../../addresses.js';
import type { Logger } from '../../log.js';
import { networkOutcome, parseRetryAfter } from '../answers.js';
import { PerMessage } from '../per-message.js';
import type { MessageToSend, Outcome, Provider } from '../provider.js';
import { SendsInFlight } from '../sends.js';
import { createTransport, type ProviderLimits, transportOptions } from '../transport/create.js';
import type { Transport } from '../transport/transport.js';
import { loadApnsKey } from './key.js';
import { apnsOutcome, isExpiredProviderToken } from './outcome.js';
import { type ProviderToken, ProviderTokens, sharedProviderTokens } from './provider-token.js';
import { type ApnsRequest, apnsRequest } from './request.js';

/** APNs has no validate-only mode: a dry run sends nothing and counts each token delivered. */
export interface ApnsOptions extends ProviderLimits {
  /** The .p8 signing key. */
  readonly keyFile: string;
  readonly keyId: string;
  readonly teamId: string;
  /** The app's bundle id: apns-topic. */
  readonly topic: string;
  /** APNs' base URL: APNS_ENDPOINTS by environment, or an emulator's. */
  readonly endpoint: string;
  /**
   * The clock provider tokens are issued and renewed by. Default Date.now, and
   * then providers of the same key share their tokens (sharedProviderTokens).
   */
  readonly now?: () => number;
}

export const APNS_ENDPOINTS = {
  production: 'https://api.push.apple.com',
  sandbox: 'https://api.sandbox.push.apple.com',
} as const;

/** The apns-id of an answer goes into debug lines: Apple's support asks for it. */
const RESPONSE_HEADERS = ['retry-after', 'apns-id'];

interface Prepared {
  readonly request: ApnsRequest;
  /** The request's headers with the token that signed them, rebuilt when the token changes. */
  signed?: { readonly token: ProviderToken; readonly headers: Record<string, string> };
}

class ApnsProvider implements Provider {
  readonly name = 'apns';
  readonly maxTokensPerRequest = 1;
  readonly #log: Logger;
  readonly #options: ApnsOptions;
  readonly #transport: Transport;
  readonly #pathPrefix: string;
  readonly #tokens: ProviderTokens;
  readonly #prepared: PerMessage<Prepared>;
  readonly #sends = new SendsInFlight();

  constructor(options: ApnsOptions, tokens: ProviderTokens, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#tokens = tokens;
    const endpoint = new URL(options.endpoint);
    this.#pathPrefix = `${endpoint.pathname.replace(/\/+$/, '')}/3/device/`;
    this.#transport = createTransport(endpoint, transportOptions(options, { responseHeaders: RESPONSE_HEADERS }));
    this.#prepared = new PerMessage((message) => ({ request: apnsRequest(message.content, message.acceptedAt ?? Date.now(), options.topic) }));
    if (endpoint.protocol === 'http:' && !isLoopback(endpoint.hostname)) log.warn({ origin: endpoint.origin }, 'provider tokens cross the network unencrypted (plain http://)');
  }

  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    if (this.#options.dryRun || message.content.dry_run === true) return Promise.resolve(tokens.map(() => ({ kind: 'delivered' })));
    const prepared = this.#prepared.get(message);
    return this.#sends.all(tokens, (token) => this.#sendOne(message, prepared, token));
  }

  close(): Promise<void> {
    return this.#sends.close(() => this.#transport.close());
  }

  destroy(): Promise<void> {
    return this.#transport.destroy();
  }

  async #sendOne(message: MessageToSend, prepared: Prepared, deviceToken: string): Promise<Outcome> {
    // Tokens are sent byte for byte; one with a '/' or '?' would change the path, so it is escaped (and refused by APNs).
    const path = this.#pathPrefix + encodeURIComponent(deviceToken);
    // An ExpiredProviderToken earns one new JWT and one more try; a second is an outcome.
    for (let renewed = false; ; renewed = true) {
      const token = this.#tokens.current();
      let response;
      try {
        response = await this.#transport.request({ method: 'POST', path, headers: this.#headersFor(prepared, token), body: prepared.request.body });
      } catch (error) {
        return networkOutcome(error);
      }
      if (!renewed && isExpiredProviderToken(response.status, response.body)) {
        this.#log.debug('APNs answered ExpiredProviderToken; signing a new provider token');
        this.#tokens.expired(token);
        continue;
      }
      const outcome = apnsOutcome(response.status, response.body, parseRetryAfter(response.headers['retry-after'], Date.now()));
      if (outcome.kind !== 'delivered') this.#log.debug({ msg_id: message.id, status: response.status, apns_id: response.headers['apns-id'] }, 'APNs refused a notification');
      return outcome;
    }
  }

  /** One headers object per message and provider token, built once for all of the message's tokens. */
  #headersFor(prepared: Prepared, token: ProviderToken): Record<string, string> {
    if (prepared.signed?.token !== token) {
      prepared.signed = { token, headers: { ...prepared.request.headers, authorization: token.authorization, 'content-type': 'application/json' } };
    }
    return prepared.signed.headers;
  }
}

/** Load the signing key (ConfigError when it is unusable) and build the provider. */
export function createApnsProvider(options: ApnsOptions, log: Logger): Provider {
  const privateKey = loadApnsKey(options.keyFile);
  const key = { privateKey, keyId: options.keyId, teamId: options.teamId };
  // A test's own clock gets tokens of its own.
  const tokens = options.now === undefined ? sharedProviderTokens(key) : new ProviderTokens(key, options.now);
  return new ApnsProvider(options, tokens, log.child({ provider: 'apns' }));
}
