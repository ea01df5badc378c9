// How gocmctl shows replies to a person at a terminal. Pure: reply in, text
// out (no trailing newline). Scripts get the JSON lines instead.
import type { Reply } from './client.js';
import type { SendTotals } from './send.js';

/** The protocol's envelope, not the report's content. */
const ENVELOPE = new Set(['ok', 'id']);

/** `key  value` lines, the values lined up in one column. */
function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...fields.map(([key]) => key.length));
  return fields.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

function contentOf(reply: Reply): Array<[string, unknown]> {
  return Object.entries(reply).filter(([key]) => !ENVELOPE.has(key));
}

export function formatReport(reply: Reply): string {
  return formatFields(contentOf(reply).map(([key, value]) => [key, show(value)]));
}

/** A duration for people: 850ms, 42s, 3m 20s, 5h 07m, 2d 3h. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function formatQueue(reply: Reply): string {
  return formatFields(
    contentOf(reply).map(([key, value]): [string, string] => {
      if (key !== 'oldest_age_ms') return [key, show(value)];
      // null: nothing is pending, so there is no oldest.
      return ['oldest', typeof value === 'number' ? formatAge(value) : '-'];
    }),
  );
}

function tokensWord(count: number): string {
  return count === 1 ? '1 token' : `${count} tokens`;
}

/** A send's outcome: the message id when it was one line, else how many messages. */
export function formatSend(totals: SendTotals, message: string | undefined): string {
  const messages = totals.chunks - totals.errors;
  const where = messages === 1 && message !== undefined ? `(message ${message})` : `in ${messages} ${messages === 1 ? 'message' : 'messages'}`;
  // The refused line's reply is on stderr; the tokens after it were not sent.
  const stopped = totals.errors > 0 ? '; stopped at an error' : '';
  return `accepted ${tokensWord(totals.accepted)} ${where}${stopped}`;
}

interface Replacement {
  readonly original: unknown;
  readonly canonical: unknown;
}

export function formatCanonical(reply: Reply): string {
  const list = Array.isArray(reply.canonical_replacements) ? (reply.canonical_replacements as Replacement[]) : [];
  if (list.length === 0) return 'no canonical replacements';
  return list.map((entry) => `${show(entry.original)} -> ${show(entry.canonical)}`).join('\n');
}

export function formatNotRegistered(reply: Reply): string {
  const tokens = Array.isArray(reply.tokens) ? (reply.tokens as unknown[]) : [];
  if (tokens.length === 0) return 'no not-registered tokens';
  return tokens.map(show).join('\n');
}

/** An error reply for stderr: its stable code, then its message. */
export function formatError(reply: Reply): string {
  return `${reply.error?.code ?? 'error'}: ${reply.error?.message ?? 'the daemon refused the request'}`;
}
