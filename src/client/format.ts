// How gocmctl shows replies to a person at a terminal. Pure: reply in, text
// out (no trailing newline). Scripts get the JSON lines instead.
import type { Reply } from './client.js';
import type { MessagesTotals } from './messages.js';
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

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The end of a --messages send: lines sent and how they were answered, lines skipped, tokens accepted. */
export function formatMessages(totals: MessagesTotals): string {
  const skipped = totals.skipped > 0 ? `; ${plural(totals.skipped, 'bad line')} skipped` : '';
  return `sent ${plural(totals.sent, 'line')}: ${totals.accepted} accepted, ${totals.refused} refused${skipped}; ${tokensWord(totals.tokens)} accepted`;
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

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')).join('\n');
}

interface Failure {
  readonly token: unknown;
  readonly reason: unknown;
}

/** A message's status: its counts, then each failed token and why. */
export function formatStatus(reply: Reply): string {
  const counts = formatFields(['msg', 'app', 'tokens', 'delivered', 'failed', 'pending'].map((key) => [key, show(reply[key] ?? '-')]));
  const failures = Array.isArray(reply.failures) ? (reply.failures as Failure[]) : [];
  if (failures.length === 0) return counts;
  const listed = failures.map((failure) => ['  ' + show(failure.token), show(failure.reason)]);
  const failed = typeof reply.failed === 'number' ? reply.failed : failures.length;
  const more = failed > failures.length ? `\n  … and ${failed - failures.length} more not shown` : '';
  return `${counts}\nfailures:\n${table(listed)}${more}`;
}

interface FleetMember {
  readonly name?: unknown;
  readonly host?: unknown;
  readonly pid?: unknown;
  readonly started_at?: unknown;
  readonly seen_at?: unknown;
  readonly inflight?: unknown;
}

/** The daemons sharing the spool, one a row. */
export function formatFleet(reply: Reply): string {
  const daemons = Array.isArray(reply.daemons) ? (reply.daemons as FleetMember[]) : [];
  if (daemons.length === 0) return 'no daemons';
  const cell = (value: unknown): string => (value === undefined || value === null ? '-' : show(value));
  const rows = daemons.map((daemon) => [daemon.name, daemon.host, daemon.pid, daemon.started_at, daemon.seen_at, daemon.inflight].map(cell));
  return table([['NAME', 'HOST', 'PID', 'STARTED', 'SEEN', 'INFLIGHT'], ...rows]);
}

/** The time of day of an RFC 3339 UTC time (12:34:56.789Z); anything else as it is. */
function timeOfDay(at: unknown): string {
  const text = show(at ?? '-');
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text) ? text.slice(11) : text;
}

/** One event for a person: time, event, app, token, then why (or the new token, or when the retry is). */
export function formatEvent(event: Readonly<Record<string, unknown>>): string {
  const name = show(event.event);
  const parts = [timeOfDay(event.at), name.padEnd(13), show(event.app ?? '-'), show(event.token ?? '-')];
  if (event.reason !== undefined) parts.push(show(event.reason));
  if (event.canonical !== undefined) parts.push(`-> ${show(event.canonical)}`);
  if (event.retry_at !== undefined) parts.push(`retry at ${timeOfDay(event.retry_at)}`);
  return parts.join('  ');
}
