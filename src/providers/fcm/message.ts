// A message's content → the FCM v1 request body, split around the token so that
// everything but the token is serialised once per message. Pure.
// Body reference: https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages
import type { MessageContent } from '../../message.js';

/** The body for one token is `prefix + JSON.stringify(token) + suffix`. */
export interface BodyTemplate {
  readonly prefix: string;
  readonly suffix: string;
}

/** FCM v1 `data` values must be strings: strings go as they are, anything else as its JSON. */
function stringifyData(payload: Readonly<Record<string, unknown>>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (value === undefined) continue;
    data[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return data;
}

/**
 * GoCM's top-level collapse_key, priority and ttl live in FCM v1's `android`
 * block. Keys the caller set in `android` itself win: they are the more specific.
 */
function androidConfig(content: MessageContent): Record<string, unknown> | undefined {
  const mapped: Record<string, unknown> = {};
  if (content.collapse_key !== undefined) mapped.collapse_key = content.collapse_key;
  if (content.priority !== undefined) mapped.priority = content.priority === 'high' ? 'HIGH' : 'NORMAL';
  // A protobuf Duration in JSON: seconds with an "s" suffix.
  if (content.ttl !== undefined) mapped.ttl = `${content.ttl}s`;
  const android = { ...mapped, ...content.android };
  return Object.keys(android).length > 0 ? android : undefined;
}

/** Build the template for `content`; `dryRun` (the --dry-run flag) adds to the message's own dry_run. */
export function bodyTemplate(content: MessageContent, dryRun: boolean): BodyTemplate {
  const rest: Record<string, unknown> = {};
  const data = stringifyData(content.payload);
  if (Object.keys(data).length > 0) rest.data = data;
  if (content.notification !== undefined) rest.notification = content.notification;
  const android = androidConfig(content);
  if (android !== undefined) rest.android = android;
  if (content.apns !== undefined) rest.apns = content.apns;
  if (content.webpush !== undefined) rest.webpush = content.webpush;

  const validateOnly = dryRun || content.dry_run === true;
  const prefix = validateOnly ? '{"validate_only":true,"message":{"token":' : '{"message":{"token":';
  const restJson = JSON.stringify(rest);
  // restJson is "{…}": its members follow the token inside the same object.
  const suffix = restJson === '{}' ? '}}' : `,${restJson.slice(1)}}`;
  return { prefix, suffix };
}

/** The whole body for one token. */
export function bodyFor(template: BodyTemplate, token: string): string {
  return template.prefix + JSON.stringify(token) + template.suffix;
}
