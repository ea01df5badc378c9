// The FCM HTTP v1 provider: one POST per token to messages:send, many in flight
// over one transport (HTTP/2 sessions over https://), with a shared OAuth2 token.
import { isLoopback } from '../../addresses.js';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type MessageToSend, type Outcome, type Provider, reasonLabel } from '../provider.js';
import { networkOutcome, parseRetryAfter } from '../answers.js';
import { PerMessage } from '../per-message.js';
import { SendsInFlight } from '../sends.js';
import { createTransport, type ProviderLimits, transportOptions } from '../transport/create.js';
import type { Transport } from '../transport/transport.js';
import { AccessTokenCache } from './access-token.js';
import { loadServiceAccount, type ServiceAccount } from './credentials.js';
import { signAssertion } from './jwt.js';
import { bodyFor, bodyTemplate, type BodyTemplate } from './message.js';
import { isStaleAccessToken, sendOutcome, tokenAnswer, type AccessTokenGrant } from './outcome.js';

/** A dry run sets validate_only on every message. */
export interface FcmOptions extends ProviderLimits {
  /** The service-account JSON file. */
  readonly credentials: string;
  /** Overrides the file's project_id. */
  readonly projectId?: string | undefined;
  /** FCM's base URL (https://fcm.googleapis.com); a path is kept as a prefix. */
  readonly endpoint: string;
}

const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

class FcmProvider implements Provider {
  readonly name = 'fcm';
  readonly maxTokensPerRequest = 1;
  readonly #log: Logger;
  readonly #account: ServiceAccount;
  readonly #fcm: Transport;
  readonly #tokenEndpoint: Transport;
  readonly #tokenPath: string;
  readonly #sendPath: string;
  readonly #accessTokens: AccessTokenCache;
  readonly #bodies: PerMessage<BodyTemplate>;
  /** The headers of the current access token, built once per token rather than per request. */
  #headers: { accessToken: string; headers: Record<string, string> } | undefined;
  /** Sends not yet answered, some still waiting for an access token: close() lets them finish. */
  readonly #sends = new SendsInFlight();

  constructor(options: FcmOptions, account: ServiceAccount, log: Logger) {
    this.#log = log;
    this.#account = account;
    const fcm = new URL(options.endpoint);
    const token = new URL(account.tokenUri);
    this.#sendPath = `${fcm.pathname.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(account.projectId)}/messages:send`;
    this.#tokenPath = token.pathname + token.search;
    this.#fcm = createTransport(fcm, transportOptions(options));
    // Renewals are coalesced: one request at a time.
    this.#tokenEndpoint = createTransport(token, transportOptions(options, { connections: 1, concurrency: 1 }));
    this.#accessTokens = new AccessTokenCache(() => this.#fetchAccessToken());
    this.#bodies = new PerMessage((message) => bodyTemplate(message.content, options.dryRun));
    for (const url of [fcm, token]) {
      // The origin only: a URL may carry user:password.
      if (url.protocol === 'http:' && !isLoopback(url.hostname)) log.warn({ origin: url.origin }, 'access tokens cross the network unencrypted (plain http://)');
    }
  }

  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    const template = this.#bodies.get(message);
    return this.#sends.all(tokens, (token) => this.#sendOne(template, token));
  }

  close(): Promise<void> {
    return this.#sends.close(() => Promise.all([this.#fcm.close(), this.#tokenEndpoint.close()]));
  }

  destroy(): Promise<void> {
    return Promise.all([this.#fcm.destroy(), this.#tokenEndpoint.destroy()]).then(() => undefined);
  }

  async #sendOne(template: BodyTemplate, token: string): Promise<Outcome> {
    const body = bodyFor(template, token);
    // A 401 earns one renewal and one more try; a second 401 is an outcome.
    for (let renewed = false; ; renewed = true) {
      const grant = await this.#accessTokens.get();
      if (grant.kind !== 'granted') return grant;
      let response;
      try {
        response = await this.#fcm.request({ method: 'POST', path: this.#sendPath, headers: this.#headersFor(grant), body });
      } catch (error) {
        return networkOutcome(error);
      }
      if (!renewed && isStaleAccessToken(response.status, response.body)) {
        this.#log.debug('messages:send answered 401; renewing the access token');
        this.#accessTokens.invalidate(grant.accessToken);
        continue;
      }
      return sendOutcome(response.status, response.body, parseRetryAfter(response.headers['retry-after'], Date.now()));
    }
  }

  #headersFor(grant: AccessTokenGrant): Record<string, string> {
    if (this.#headers?.accessToken !== grant.accessToken) {
      this.#headers = {
        accessToken: grant.accessToken,
        headers: { authorization: `Bearer ${grant.accessToken}`, 'content-type': 'application/json; charset=utf-8' },
      };
    }
    return this.#headers.headers;
  }

  async #fetchAccessToken(): Promise<AccessTokenGrant | Outcome> {
    // The assertion is base64url with dots: nothing in it needs form-encoding.
    const body = `grant_type=${encodeURIComponent(JWT_BEARER_GRANT)}&assertion=${signAssertion(this.#account, Math.floor(Date.now() / 1000))}`;
    let answer: AccessTokenGrant | Outcome;
    try {
      const response = await this.#tokenEndpoint.request({ method: 'POST', path: this.#tokenPath, headers: FORM, body });
      answer = tokenAnswer(response.status, response.body, parseRetryAfter(response.headers['retry-after'], Date.now()));
    } catch (error) {
      const unreached = networkOutcome(error);
      this.#log.debug({ code: unreached.reason.code }, 'the token endpoint was not reached');
      answer = { kind: 'retry', reason: { source: 'token', code: reasonLabel(unreached.reason) } };
    }
    if (answer.kind === 'granted') {
      this.#log.debug({ expiresInMs: answer.expiresInMs }, 'access token granted');
    } else if (answer.kind === 'failed') {
      this.#log.error({ reason: reasonLabel(answer.reason), clientEmail: this.#account.clientEmail }, 'the token endpoint refused our service account');
    } else if (answer.kind === 'retry') {
      this.#log.warn({ reason: reasonLabel(answer.reason) }, 'no access token yet; requests will be retried');
    }
    return answer;
  }
}

/** Load the service account (ConfigError when it is unusable) and build the provider. */
export function createFcmProvider(options: FcmOptions, log: Logger): Provider {
  if (!options.credentials) throw new ConfigError('--provider fcm needs a service-account file: --credentials FILE');
  return new FcmProvider(options, loadServiceAccount(options.credentials, options.projectId), log.child({ provider: 'fcm' }));
}
