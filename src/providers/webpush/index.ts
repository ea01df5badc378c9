// The Web Push provider (RFC 8030): one POST per subscription to its endpoint,
// the message encrypted for that browser (RFC 8291, aes128gcm) and signed for
// its push service (RFC 8292, VAPID), over gocm's own transport: HTTP/2 where
// the push service offers it, one pool per push-service origin.
import { ConfigError } from '../../errors.js';
import { lazily } from '../../lazy.js';
import type { Logger } from '../../log.js';
import { networkOutcome, parseRetryAfter } from '../answers.js';
import { PerMessage } from '../per-message.js';
import { SendsInFlight } from '../sends.js';
import type { MessageToSend, Outcome, Provider } from '../provider.js';
import { createTransport, type ProviderLimits, transportOptions } from '../transport/create.js';
import { webPushMessage, type WebPushMessage } from './message.js';
import { OriginTransports } from './origins.js';
import { webPushOutcome } from './outcome.js';
import { TimeSlices } from './slices.js';
import { parseSubscription } from './subscription.js';
import { VapidHeaders } from './vapid-header.js';
import { loadVapidKeys } from './vapid-keys.js';

const webpush = lazily<typeof import('web-push')>('web-push');

/** Web Push has no validate-only mode: a dry run sends nothing and counts each token delivered. */
export interface WebPushOptions extends ProviderLimits {
  /** base64url, as the browsers subscribed with it (applicationServerKey). */
  readonly vapidPublicKey: string;
  readonly vapidPrivateKeyFile: string;
  /** VAPID's `sub`: a mailto: or https: URL the push service may contact. */
  readonly subject: string;
  /** Push-service transports kept open at most (default 64), and closed after this long unused (default 5 min). */
  readonly maxOrigins?: number;
  readonly idleMs?: number;
}

const BAD_SUBSCRIPTION: Outcome = { kind: 'failed', reason: { source: 'webpush', code: 'bad_subscription' } };

class WebPushProvider implements Provider {
  readonly name = 'webpush';
  readonly maxTokensPerRequest = 1;
  readonly #log: Logger;
  readonly #options: WebPushOptions;
  readonly #vapid: VapidHeaders;
  readonly #origins: OriginTransports;
  readonly #messages = new PerMessage((message) => webPushMessage(message.content));
  /** Encryptions wait their turn here, so that a large batch does not hold the event loop. */
  readonly #encryptions = new TimeSlices();
  readonly #sends = new SendsInFlight();

  constructor(options: WebPushOptions, vapid: VapidHeaders, log: Logger) {
    this.#options = options;
    this.#vapid = vapid;
    this.#log = log;
    const shape = transportOptions(options);
    this.#origins = new OriginTransports((origin) => createTransport(origin, shape), {
      ...(options.maxOrigins === undefined ? {} : { maxOrigins: options.maxOrigins }),
      ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
    });
  }

  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    if (this.#options.dryRun || message.content.dry_run === true) return Promise.resolve(tokens.map(() => ({ kind: 'delivered' })));
    const prepared = this.#messages.get(message);
    return this.#sends.all(tokens, (token) => this.#sendOne(message, prepared, token));
  }

  close(): Promise<void> {
    return this.#sends.close(() => this.#origins.close());
  }

  destroy(): Promise<void> {
    return this.#origins.destroy();
  }

  async #sendOne(message: MessageToSend, prepared: WebPushMessage, token: string): Promise<Outcome> {
    const subscription = parseSubscription(token);
    if (typeof subscription === 'string') {
      this.#log.debug({ msg_id: message.id, problem: subscription }, 'a token is not a usable push subscription');
      return BAD_SUBSCRIPTION;
    }
    let body: Buffer;
    try {
      // A new ECDH key pair and HKDF per subscription (RFC 8291 §3.4): the CPU-heavy part of a push.
      body = await this.#encryptions.run(() => webpush().encrypt(subscription.p256dh, subscription.auth, prepared.plaintext, 'aes128gcm').cipherText);
    } catch {
      this.#log.debug({ msg_id: message.id }, "a subscription's keys do not encrypt (p256dh is not a point on P-256)");
      return BAD_SUBSCRIPTION;
    }
    const { origin, pathname, search } = subscription.endpoint;
    try {
      const headers = { ...prepared.headers, authorization: this.#vapid.authorization(origin) };
      const response = await this.#origins.run(origin, (transport) => transport.request({ method: 'POST', path: pathname + search, headers, body }));
      return webPushOutcome(response.status, parseRetryAfter(response.headers['retry-after'], Date.now()));
    } catch (error) {
      return networkOutcome(error);
    }
  }
}

/** Load and check the VAPID keys and subject (ConfigError naming the field) and build the provider. */
export function createWebPushProvider(options: WebPushOptions, log: Logger): Provider {
  const keys = loadVapidKeys(options.vapidPublicKey, options.vapidPrivateKeyFile);
  const vapid = new VapidHeaders(keys, options.subject);
  try {
    // Signing once now finds what web-push refuses in the subject before any push would.
    vapid.authorization('https://push.example');
  } catch (error) {
    throw new ConfigError(`"subject": ${error instanceof Error ? error.message : 'refused by web-push'}`);
  }
  return new WebPushProvider(options, vapid, log.child({ provider: 'webpush' }));
}
