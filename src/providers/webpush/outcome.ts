// Push-service answers → outcomes (RFC 8030 §5, §7, §8). A push service says
// what it means in the status; bodies differ from service to service and are
// not read. Pure; see test/providers/webpush/outcome.test.ts.
import { statusOutcome } from '../answers.js';
import type { Outcome } from '../provider.js';

/** 404: no such subscription; 410: the browser unsubscribed. Either way, purge it. */
const GONE = new Set([404, 410]);

/**
 * 2xx (201 Created, or 200/202 at some services) → delivered; 404/410 →
 * notregistered; 429 (pausing the app, with the ordinary back-off when it
 * names no Retry-After) and 5xx → retried; 401/403 (our VAPID key) → final,
 * a configuration problem; any other 4xx → final.
 */
export function webPushOutcome(status: number, retryAfterMs: number | undefined): Outcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (GONE.has(status)) return { kind: 'failed', reason: { source: 'http', code: String(status) }, notRegistered: true };
  return statusOutcome(status, retryAfterMs);
}
