// The fleet spool: any number of gocmd daemons share one PostgreSQL database.
// An ack means committed (synchronous_commit on), sends of one turn share a
// transaction; a daemon claims due tokens with a lease (FOR UPDATE SKIP
// LOCKED, never a transaction held across requests), renews it while it
// works, gives it back when it stops, and loses it to the others when it
// dies. NOTIFY wakes idle daemons; every call has a deadline. SPEC.md "Spools".
import { hostname } from 'node:os';
import pg from 'pg';
import { type Clock, systemClock } from '../../clock.js';
import { SpoolFullError, SpoolUnavailableError } from '../../errors.js';
import { errorCode } from '../../guards.js';
import type { Message, MessageContent, NewMessage } from '../../message.js';
import { reasonLabel } from '../../providers/provider.js';
import { InFlight } from '../inflight.js';
import {
  type AppFilter,
  type CanonicalReplacement,
  DEFAULT_STATUS_POLICY,
  type Delivery,
  type FleetMember,
  MAX_STATUS_FAILURES,
  type MessageStatus,
  type NotRegisteredToken,
  type QueueCounts,
  type Settlement,
  type Spool,
  type StatusPolicy,
} from '../spool.js';
import { configurationProblem, type Target } from './connect.js';
import { migrate } from './schema.js';
import { Notifications, WORK_CHANNEL } from './notify.js';

export interface PostgresSpoolOptions {
  readonly spoolMax: number;
  /** How long a claim holds (--lease); renewed at a third of it while in flight. */
  readonly leaseMs: number;
  /** This daemon's name in `fleet` (--name). */
  readonly name: string;
  readonly clock?: Clock;
  readonly statuses?: StatusPolicy;
  /** How often the fleet vacuums the hot table (one daemon at a time); 5 s unless a test says. */
  readonly vacuumMs?: number;
  readonly log?: { warn(details: object, message: string): void; info(details: object, message: string): void };
}

/** Where a claimed token lives: its row, and the tries it had. */
interface Place {
  readonly row: string;
  readonly attempts: number;
}

const HEARTBEAT_MS = 2000;
const CENSUS_INTERVAL_MS = 5000;
const FORGET_INTERVAL_MS = 10_000;
const POOL_SIZE = 6;
/**
 * The hot table churns (every token is inserted, leased, renewed and deleted), and the claim's index
 * walk passes every dead row version until vacuum removes it. Per-table autovacuum settings cannot make
 * vacuum come sooner than the server's autovacuum_naptime (1 min by default): bench/fleet-churn.js at
 * 1,000 sends/s measured 40,000 dead rows (80,000 at worst) and a table growing to 20 MiB within 40 s
 * without this; with a VACUUM every 5 s by one member of the fleet, 4,000 and 2.6 MiB.
 */
const VACUUM_INTERVAL_MS = 5000;
/** How long one VACUUM may take: long enough for a table an outage let grow; close() cancels one sooner. */
const VACUUM_TIMEOUT_MS = 10 * 60_000;
/** Fewer dead rows than this and the vacuum is not worth its walk of the table. */
const VACUUM_DEAD_ROWS = 1000;
/** Any constant the fleet agrees on: held by the member vacuuming, so that the others skip their turn. */
const VACUUM_LOCK = 0x67636d32;

const quiet = { warn: () => undefined, info: () => undefined };

/**
 * A group commit: its messages, their tokens and the fleet's wake-up in one
 * statement, hence one transaction (the notice goes out when it commits).
 * Three statements between BEGIN and COMMIT cost four more round trips per
 * group (measured with bench/fleet.ts: see its report).
 */
const INSERT_SENDS = `
  WITH messages AS (
    INSERT INTO gocm.messages (id, app, accepted_at, expires_at, token_count, remaining, content)
    SELECT id, app, accepted_at, expires_at, token_count, token_count, content
    FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::text[]) AS m(id, app, accepted_at, expires_at, token_count, content)
  ), tokens AS (
    INSERT INTO gocm.tokens (message, app, token, due_at) SELECT * FROM unnest($7::text[], $8::int[], $9::text[], $10::bigint[])
  )
  SELECT pg_notify($11, 'send')`;

export class PostgresSpool implements Spool {
  readonly recovered = 0;
  private readonly clock: Clock;
  private readonly statusPolicy: StatusPolicy;
  private readonly inflight = new InFlight<Place>();
  private readonly appIds = new Map<string, number>();
  private readonly appNames = new Map<number, string>();
  private readonly appLookups = new Map<string, Promise<number>>();
  /** Claims under way, each settled either way. */
  private readonly claims = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** The vacuum under way, if any: close() cancels and waits for it. */
  private vacuuming: Promise<void> | undefined;
  /** The server process running this daemon's VACUUM, while one runs: close() cancels it. */
  private vacuumBackend: number | undefined;
  /** False once the role is found not to be allowed to vacuum the table. */
  private vacuumAllowed: boolean | undefined;
  /** The last VACUUM failure logged, until one works. */
  private vacuumProblem: string | undefined;
  private batch: Array<{ message: NewMessage; tokens: readonly string[]; resolve: () => void; reject: (error: Error) => void }> = [];
  private committing: Promise<void> | undefined;
  private flushScheduled = false;
  private closing: Promise<void> | undefined;
  private readonly log: NonNullable<PostgresSpoolOptions['log']>;
  private readonly workListeners: Array<() => void> = [];
  /** About how many tokens the whole spool holds (census(), plus what this daemon added since). */
  private held = 0;
  /** Claims on their way: renew() leaves unknown leases alone meanwhile. */
  private claiming = 0;
  /** About how many finished statuses it keeps (counted at each prune, plus what this daemon finished since). */
  private statusCount = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresSpoolOptions,
    private readonly daemonId: number,
    private readonly notifications: Notifications,
  ) {
    this.clock = options.clock ?? systemClock;
    this.statusPolicy = options.statuses ?? DEFAULT_STATUS_POLICY;
    this.log = options.log ?? quiet;
    notifications.onNotice(() => this.workListeners.forEach((listener) => listener()));
    const every = (ms: number, task: () => Promise<unknown>) => this.timers.push(setInterval(() => void task().catch(() => undefined), ms).unref());
    every(Math.max(100, Math.floor(options.leaseMs / 3)), () => this.renew());
    every(HEARTBEAT_MS, () => this.heartbeat());
    every(Math.max(100, Math.floor(options.leaseMs / 2)), () => this.reclaim());
    every(FORGET_INTERVAL_MS, () => this.forget());
    every(CENSUS_INTERVAL_MS, () => this.census());
    every(options.vacuumMs ?? VACUUM_INTERVAL_MS, () => (this.vacuuming ??= this.vacuum().catch((error: unknown) => this.vacuumFailed(error)).finally(() => (this.vacuuming = undefined))));
  }

  /** Connect, create or check the schema, join the fleet. Throws ConfigError for settings no retry fixes. */
  static async open(target: Target, options: PostgresSpoolOptions): Promise<PostgresSpool> {
    const pool = new pg.Pool({ ...target.config, max: POOL_SIZE });
    // An idle connection the server dropped is reported here; the next query makes a new one.
    pool.on('error', (error) => options.log?.warn({ code: errorCode(error), reason: error.message }, 'a PostgreSQL connection was lost; it is made again when needed'));
    // A connection lost while checked out (between the statements of a transaction) errs on the
    // client itself: the query under way fails, and without this the process would.
    pool.on('connect', (client) => client.on('error', () => undefined));
    let notifications: Notifications | undefined;
    try {
      const client = await pool.connect();
      let daemonId: number;
      try {
        await migrate(client, target.where);
        const now = (options.clock ?? systemClock).now();
        const joined = await client.query<{ id: number }>(
          'INSERT INTO gocm.daemons (name, host, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $4) RETURNING id',
          [options.name, hostname(), process.pid, now],
        );
        daemonId = (joined.rows[0] as { id: number }).id;
      } finally {
        client.release();
      }
      notifications = await Notifications.open(target.config, options.log ?? quiet);
      const spool = new PostgresSpool(pool, options, daemonId, notifications);
      await spool.loadApps();
      await spool.census();
      return spool;
    } catch (error) {
      await notifications?.close();
      await pool.end().catch(() => undefined);
      throw configurationProblem(error, target.where) ?? error;
    }
  }

  /** Call `listener` when work may have come from another daemon (a send, a retry, a lease that ran out). */
  onWork(listener: () => void): void {
    this.workListeners.push(listener);
  }

  private async loadApps(): Promise<void> {
    const { rows } = await this.pool.query<{ id: number; name: string }>('SELECT id, name FROM gocm.apps');
    for (const { id, name } of rows) this.nameApp(id, name);
  }

  private nameApp(id: number, name: string): void {
    this.appIds.set(name, id);
    this.appNames.set(id, name);
  }

  /** An app's id, named in the spool the first time: one lookup however many sends of a batch name it at once. */
  private appId(name: string): Promise<number> {
    const known = this.appIds.get(name);
    if (known !== undefined) return Promise.resolve(known);
    let lookup = this.appLookups.get(name);
    if (!lookup) {
      lookup = this.nameInSpool(name).finally(() => this.appLookups.delete(name));
      this.appLookups.set(name, lookup);
    }
    return lookup;
  }

  private async nameInSpool(name: string): Promise<number> {
    const { rows } = await this.pool.query<{ id: number }>(
      'INSERT INTO gocm.apps (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id',
      [name],
    );
    const id = (rows[0] as { id: number }).id;
    this.nameApp(id, name);
    return id;
  }

  private appName(id: number): string {
    return this.appNames.get(id) ?? String(id);
  }

  /** A spool call's failure as the engine and the protocol expect it: busy, with the reason, nothing else. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw error instanceof SpoolUnavailableError || error instanceof SpoolFullError ? error : unavailable(error, 'try again');
    }
  }

  /** One transaction on one connection; rolled back on any failure (the connection goes with it). */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // Dropping the connection rolls the transaction back on the server, without one more
      // round trip a frozen server would make the caller wait another deadline for.
      client.release(true);
      throw error;
    }
  }

  add(message: NewMessage, tokens: readonly string[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the spool is closed'));
    if (tokens.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.batch.push({ message, tokens, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Sends that arrive while a commit is under way wait for it and share the next one: group commit. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.committing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.batch;
      this.batch = [];
      if (batch.length === 0) return;
      this.committing = this.commit(batch).finally(() => {
        this.committing = undefined;
        if (this.batch.length > 0) this.scheduleFlush();
      });
    });
  }

  private async commit(all: PostgresSpool['batch']): Promise<void> {
    // Each send that would pass --spool-max is refused whole; the others go.
    const batch: PostgresSpool['batch'] = [];
    let held = this.held;
    for (const add of all) {
      if (held + add.tokens.length > this.options.spoolMax) {
        add.reject(new SpoolFullError(`the spool holds about ${held} tokens; ${add.tokens.length} more would pass --spool-max ${this.options.spoolMax}`));
        continue;
      }
      held += add.tokens.length;
      batch.push(add);
    }
    if (batch.length === 0) return;
    try {
      const apps = await Promise.all(batch.map((add) => this.appId(add.message.app)));
      const ids: string[] = [];
      const appOf: number[] = [];
      const accepted: number[] = [];
      const expires: Array<number | null> = [];
      const counts: number[] = [];
      const contents: string[] = [];
      const tokenMessage: string[] = [];
      const tokenApp: number[] = [];
      const tokenText: string[] = [];
      const tokenDue: number[] = [];
      batch.forEach(({ message, tokens }, i) => {
        const app = apps[i] as number;
        ids.push(message.id);
        appOf.push(app);
        accepted.push(message.acceptedAt);
        expires.push(message.expiresAt ?? null);
        counts.push(tokens.length);
        contents.push(JSON.stringify(message.content));
        for (const token of tokens) {
          tokenMessage.push(message.id);
          tokenApp.push(app);
          tokenText.push(token);
          tokenDue.push(message.sendAt ?? message.acceptedAt);
        }
      });
      // One statement, so one transaction without BEGIN and COMMIT round trips.
      await this.pool.query(INSERT_SENDS, [ids, appOf, accepted, expires, counts, contents, tokenMessage, tokenApp, tokenText, tokenDue, WORK_CHANNEL]);
    } catch (error) {
      const failure = error instanceof SpoolFullError ? error : unavailable(error, 'nothing was accepted');
      for (const add of batch) add.reject(failure);
      return;
    }
    this.held += batch.reduce((sum, add) => sum + add.tokens.length, 0);
    for (const add of batch) add.resolve();
  }

  /** The fleet's pending tokens, counted now and then: --spool-max is kept approximately across the fleet. */
  private async census(): Promise<void> {
    const { rows } = await this.pool.query<{ held: string }>('SELECT count(*) AS held FROM gocm.tokens');
    this.held = Number(rows[0]?.held ?? 0);
  }

  claim(app: string, limit: number, now: number): Promise<Delivery[]> {
    if (this.closing) return Promise.resolve([]);
    const claiming = this.guard(() => this.claimNow(app, limit, now));
    // close() waits for it: a claim that committed after the claims were given back would hold its tokens for a lease.
    const settled = claiming.then(
      () => undefined,
      () => undefined,
    );
    this.claims.add(settled);
    void settled.then(() => this.claims.delete(settled));
    return claiming;
  }

  private async claimNow(app: string, limit: number, now: number): Promise<Delivery[]> {
    this.claiming++;
    try {
      return await this.claimRows(app, limit, now);
    } finally {
      this.claiming--;
    }
  }

  private async claimRows(app: string, limit: number, now: number): Promise<Delivery[]> {
    const id = this.appIds.get(app) ?? (await this.knownAppId(app));
    if (limit <= 0 || id === undefined) return [];
    const { rows } = await this.pool.query<{ row: string; message: string; token: string; attempts: number; due_at: string }>(
      `WITH picked AS (
         SELECT row FROM gocm.tokens
         WHERE app = $1 AND due_at <= $2 AND lease_until IS NULL
         ORDER BY due_at, message, row
         LIMIT $3
         FOR UPDATE SKIP LOCKED
       )
       UPDATE gocm.tokens t SET lease_owner = $4, lease_until = $5
       FROM picked WHERE t.row = picked.row
       RETURNING t.row, t.message, t.token, t.attempts, t.due_at`,
      [id, now, limit, this.daemonId, now + this.options.leaseMs],
    );
    if (rows.length === 0) return [];
    // UPDATE … RETURNING keeps no order: put the claim back in the order it was picked in.
    rows.sort((a, b) => compareRows(a.due_at, b.due_at) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0) || compareRows(a.row, b.row));
    const missing = [...new Set(rows.map((row) => row.message))].filter((message) => !this.inflight.message(message));
    const messages = new Map<string, Message>();
    if (missing.length > 0) {
      const found = await this.pool.query<{ id: string; app: number; accepted_at: string; expires_at: string | null; content: string }>(
        'SELECT id, app, accepted_at, expires_at, content FROM gocm.messages WHERE id = ANY($1::text[])',
        [missing],
      );
      for (const row of found.rows) {
        const message: Message = { id: row.id, app: this.appName(row.app), acceptedAt: Number(row.accepted_at), content: JSON.parse(row.content) as MessageContent };
        messages.set(row.id, row.expires_at === null ? message : { ...message, expiresAt: Number(row.expires_at) });
      }
    }
    const claimed: Delivery[] = [];
    for (const row of rows) {
      const message = this.inflight.message(row.message) ?? messages.get(row.message);
      if (!message) continue;
      claimed.push(this.inflight.claim(message, row.token, row.attempts, { row: row.row, attempts: row.attempts }));
    }
    return claimed;
  }

  /** An app another daemon named first. */
  private async knownAppId(name: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ id: number }>('SELECT id FROM gocm.apps WHERE name = $1', [name]);
    if (rows[0]) this.nameApp(rows[0].id, name);
    return rows[0]?.id;
  }

  release(deliveries: readonly Delivery[]): Promise<void> {
    // Once closing, close() gives back everything this daemon holds, and the pool may be gone.
    if (this.closing) return Promise.resolve();
    return this.guard(() => this.releaseNow(deliveries));
  }

  private async releaseNow(deliveries: readonly Delivery[]): Promise<void> {
    const rows: string[] = [];
    for (const delivery of deliveries) {
      const place = this.inflight.find(delivery);
      if (place) rows.push(place.row);
    }
    if (rows.length === 0) return;
    await this.pool.query('UPDATE gocm.tokens SET lease_owner = NULL, lease_until = NULL WHERE row = ANY($1::bigint[]) AND lease_owner = $2', [rows, this.daemonId]);
    for (const delivery of deliveries) this.inflight.release(delivery);
    await this.notify('release');
  }

  nextDueAt(app: string): Promise<number | undefined> {
    return this.guard(() => this.nextDueAtNow(app));
  }

  private async nextDueAtNow(app: string): Promise<number | undefined> {
    const id = this.appIds.get(app) ?? (await this.knownAppId(app));
    if (id === undefined) return undefined;
    const { rows } = await this.pool.query<{ due: string | null }>('SELECT min(due_at) AS due FROM gocm.tokens WHERE app = $1 AND lease_until IS NULL', [id]);
    return rows[0]?.due === null || rows[0]?.due === undefined ? undefined : Number(rows[0].due);
  }

  settle(settlements: readonly Settlement[], now: number): Promise<void> {
    return this.guard(() => this.settleNow(settlements, now));
  }

  private async settleNow(settlements: readonly Settlement[], now: number): Promise<void> {
    const settled = new Map<string, { settlement: Settlement; place: Place }>();
    for (const settlement of settlements) {
      const place = this.inflight.find(settlement.delivery);
      if (place && !settled.has(place.row)) settled.set(place.row, { settlement, place });
    }
    if (settled.size === 0) return;
    const finals = [...settled.values()].filter(({ settlement }) => settlement.result !== 'retry');
    const retries = [...settled.values()].filter(({ settlement }) => settlement.result === 'retry');
    await this.transaction(async (client) => {
      // What this daemon still holds, or what nobody holds since its lease ran out: the outcome
      // stands. A token another daemon has claimed meanwhile settles nothing here; it goes once more.
      const kept = new Set<string>();
      if (finals.length > 0) {
        const deleted = await client.query<{ row: string }>('DELETE FROM gocm.tokens WHERE row = ANY($1::bigint[]) AND (lease_owner = $2 OR lease_owner IS NULL) RETURNING row', [
          finals.map(({ place }) => place.row),
          this.daemonId,
        ]);
        for (const { row } of deleted.rows) kept.add(row);
      }
      this.statusCount += await this.recordFinals(client, finals.filter(({ place }) => kept.has(place.row)).map(({ settlement }) => settlement), now);
      if (retries.length > 0) {
        await client.query(
          `UPDATE gocm.tokens t SET attempts = t.attempts + 1, due_at = d.due, lease_owner = NULL, lease_until = NULL
           FROM unnest($1::bigint[], $2::bigint[]) AS d(row, due) WHERE t.row = d.row AND (t.lease_owner = $3 OR t.lease_owner IS NULL)`,
          [retries.map(({ place }) => place.row), retries.map(({ settlement }) => (settlement.result === 'retry' ? settlement.dueAt : now)), this.daemonId],
        );
        await client.query('SELECT pg_notify($1, $2)', [WORK_CHANNEL, 'retry']);
      }
    });
    for (const { settlement } of settled.values()) this.inflight.release(settlement.delivery);
    if (this.statusCount > this.statusPolicy.maxFinished) await this.forget().catch(() => undefined);
  }

  /** Messages' counts, failures, statuses and the lists, for final settlements this daemon still held; how many messages finished. */
  private async recordFinals(client: pg.PoolClient, finals: readonly Settlement[], now: number): Promise<number> {
    if (finals.length === 0) return 0;
    const perMessage = new Map<string, { delivered: number; failed: number; failures: Array<[string, string]> }>();
    const canonicals: Array<[number, string, string]> = [];
    const gone: Array<[number, string]> = [];
    for (const settlement of finals) {
      const { message, token } = settlement.delivery;
      const app = this.appIds.get(message.app) as number;
      let counts = perMessage.get(message.id);
      if (!counts) perMessage.set(message.id, (counts = { delivered: 0, failed: 0, failures: [] }));
      if (settlement.result === 'delivered') {
        counts.delivered++;
        if (settlement.canonical !== undefined) canonicals.push([app, token, settlement.canonical]);
      } else if (settlement.result === 'failed') {
        counts.failed++;
        counts.failures.push([token, reasonLabel(settlement.reason)]);
        if (settlement.notRegistered) gone.push([app, token]);
      }
    }
    const ids = [...perMessage.keys()];
    const updated = await client.query<{ id: string; remaining: number; failed: number }>(
      `UPDATE gocm.messages m SET remaining = m.remaining - d.delivered - d.failed, delivered = m.delivered + d.delivered, failed = m.failed + d.failed
       FROM unnest($1::text[], $2::int[], $3::int[]) AS d(id, delivered, failed) WHERE m.id = d.id
       RETURNING m.id, m.remaining, m.failed`,
      [ids, ids.map((id) => perMessage.get(id)?.delivered ?? 0), ids.map((id) => perMessage.get(id)?.failed ?? 0)],
    );
    const failureRows: Array<[string, string, string]> = [];
    const finished: string[] = [];
    for (const row of updated.rows) {
      const counts = perMessage.get(row.id);
      if (!counts) continue;
      const room = MAX_STATUS_FAILURES - (row.failed - counts.failed);
      for (const [token, reason] of counts.failures.slice(0, Math.max(0, room))) failureRows.push([row.id, token, reason]);
      if (row.remaining <= 0) finished.push(row.id);
    }
    if (failureRows.length > 0) {
      await client.query('INSERT INTO gocm.failures (message, token, reason) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])', columns(failureRows, 3));
    }
    if (finished.length > 0) {
      await client.query(
        `INSERT INTO gocm.statuses (id, app, token_count, delivered, failed, finished_at)
         SELECT id, app, token_count, delivered, failed, $2 FROM gocm.messages WHERE id = ANY($1::text[]) ON CONFLICT (id) DO NOTHING`,
        [finished, now],
      );
      await client.query('DELETE FROM gocm.messages WHERE id = ANY($1::text[])', [finished]);
    }
    if (canonicals.length > 0) {
      // A token replaced twice keeps its latest canonical, in its first place (seq is kept).
      await client.query(
        `INSERT INTO gocm.canonicals (app, original, canonical) SELECT DISTINCT ON (app, original) * FROM unnest($1::int[], $2::text[], $3::text[]) AS c(app, original, canonical)
         ON CONFLICT (app, original) DO UPDATE SET canonical = excluded.canonical`,
        columns(lastPerKey(canonicals), 3),
      );
    }
    if (gone.length > 0) {
      await client.query('INSERT INTO gocm.notregistered (app, token) SELECT * FROM unnest($1::int[], $2::text[]) ON CONFLICT DO NOTHING', columns(gone, 2));
    }
    return finished.length;
  }

  counts(app: AppFilter, now: number): Promise<QueueCounts> {
    return this.guard(() => this.countsNow(app, now));
  }

  private async countsNow(app: AppFilter, now: number): Promise<QueueCounts> {
    const id = app === undefined ? null : (this.appIds.get(app) ?? (await this.knownAppId(app)) ?? -1);
    const { rows } = await this.pool.query<Record<'total' | 'inflight' | 'retrying' | 'scheduled', string> & { oldest: string | null }>(
      `SELECT count(*) AS total,
              count(*) FILTER (WHERE lease_until IS NOT NULL) AS inflight,
              count(*) FILTER (WHERE lease_until IS NULL AND attempts > 0) AS retrying,
              count(*) FILTER (WHERE lease_until IS NULL AND attempts = 0 AND due_at > $2) AS scheduled,
              (SELECT min(accepted_at) FROM gocm.messages WHERE $1::int IS NULL OR app = $1) AS oldest
       FROM gocm.tokens WHERE $1::int IS NULL OR app = $1`,
      [id, now],
    );
    const row = rows[0] as (typeof rows)[number];
    const [total, inflight, retrying, scheduled] = [row.total, row.inflight, row.retrying, row.scheduled].map(Number) as [number, number, number, number];
    return { pending: total, queued: total - inflight - retrying - scheduled, scheduled, inflight, retrying, oldestAcceptedAt: row.oldest === null ? undefined : Number(row.oldest) };
  }

  status(id: string): Promise<MessageStatus | undefined> {
    return this.guard(() => this.statusNow(id));
  }

  private async statusNow(id: string): Promise<MessageStatus | undefined> {
    const { rows } = await this.pool.query<{ app: number; token_count: number; remaining: number; delivered: number; failed: number; finished_at: string | null }>(
      `SELECT app, token_count, remaining, delivered, failed, NULL::bigint AS finished_at FROM gocm.messages WHERE id = $1
       UNION ALL SELECT app, token_count, 0, delivered, failed, finished_at FROM gocm.statuses WHERE id = $1 LIMIT 1`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    const finishedAt = row.finished_at === null ? undefined : Number(row.finished_at);
    if (finishedAt !== undefined && this.clock.now() - finishedAt >= this.statusPolicy.retentionMs) return undefined;
    const failures = await this.pool.query<{ token: string; reason: string }>('SELECT token, reason FROM gocm.failures WHERE message = $1 ORDER BY seq LIMIT $2', [id, MAX_STATUS_FAILURES]);
    return { id, app: this.appName(row.app), tokens: row.token_count, pending: row.remaining, delivered: row.delivered, failed: row.failed, failures: failures.rows, finishedAt };
  }

  /** The app filter as an id: null for all apps, undefined for an app that never sent. */
  private async appFilter(app: AppFilter): Promise<number | null | undefined> {
    if (app === undefined) return null;
    return this.appIds.get(app) ?? (await this.knownAppId(app));
  }

  takeCanonicals(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]> {
    return this.guard(() => this.takeCanonicalsNow(app, keep));
  }

  private async takeCanonicalsNow(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]> {
    const id = await this.appFilter(app);
    if (id === undefined) return [];
    // DELETE … RETURNING: each entry goes to exactly one reader, however many daemons read at once.
    const sql = keep
      ? 'SELECT seq, app, original, canonical FROM gocm.canonicals WHERE $1::int IS NULL OR app = $1'
      : 'DELETE FROM gocm.canonicals WHERE $1::int IS NULL OR app = $1 RETURNING seq, app, original, canonical';
    const { rows } = await this.pool.query<{ seq: string; app: number; original: string; canonical: string }>(sql, [id]);
    return rows.sort((a, b) => compareRows(a.seq, b.seq)).map((row) => ({ app: this.appName(row.app), original: row.original, canonical: row.canonical }));
  }

  clearCanonicals(app: AppFilter, originals: readonly string[]): Promise<number> {
    return this.guard(() => this.clearCanonicalsNow(app, originals));
  }

  private async clearCanonicalsNow(app: AppFilter, originals: readonly string[]): Promise<number> {
    const id = await this.appFilter(app);
    if (id === undefined) return 0;
    const result = await this.pool.query('DELETE FROM gocm.canonicals WHERE ($1::int IS NULL OR app = $1) AND original = ANY($2::text[])', [id, originals]);
    return result.rowCount ?? 0;
  }

  takeNotRegistered(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]> {
    return this.guard(() => this.takeNotRegisteredNow(app, keep));
  }

  private async takeNotRegisteredNow(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]> {
    const id = await this.appFilter(app);
    if (id === undefined) return [];
    const sql = keep
      ? 'SELECT seq, app, token FROM gocm.notregistered WHERE $1::int IS NULL OR app = $1'
      : 'DELETE FROM gocm.notregistered WHERE $1::int IS NULL OR app = $1 RETURNING seq, app, token';
    const { rows } = await this.pool.query<{ seq: string; app: number; token: string }>(sql, [id]);
    return rows.sort((a, b) => compareRows(a.seq, b.seq)).map((row) => ({ app: this.appName(row.app), token: row.token }));
  }

  clearNotRegistered(app: AppFilter, tokens: readonly string[]): Promise<number> {
    return this.guard(() => this.clearNotRegisteredNow(app, tokens));
  }

  private async clearNotRegisteredNow(app: AppFilter, tokens: readonly string[]): Promise<number> {
    const id = await this.appFilter(app);
    if (id === undefined) return 0;
    const result = await this.pool.query('DELETE FROM gocm.notregistered WHERE ($1::int IS NULL OR app = $1) AND token = ANY($2::text[])', [id, tokens]);
    return result.rowCount ?? 0;
  }

  async probe(): Promise<void> {
    if (this.closing) throw new Error('the spool is closed');
    try {
      await this.pool.query('UPDATE gocm.daemons SET seen_at = $2 WHERE id = $1', [this.daemonId, this.clock.now()]);
    } catch (error) {
      throw unavailable(error, 'it cannot be written');
    }
  }

  /** The daemons sharing this spool: seen within a lease, or still holding claims. */
  fleet(): Promise<FleetMember[]> {
    return this.guard(() => this.fleetNow());
  }

  private async fleetNow(): Promise<FleetMember[]> {
    const since = this.clock.now() - this.options.leaseMs;
    const { rows } = await this.pool.query<{ name: string; host: string; pid: number; started_at: string; seen_at: string; inflight: number }>(
      'SELECT name, host, pid, started_at, seen_at, inflight FROM gocm.daemons WHERE seen_at >= $1 ORDER BY name, id',
      [since],
    );
    const iso = (ms: string) => new Date(Number(ms)).toISOString();
    return rows.map((row) => ({ name: row.name, host: row.host, pid: row.pid, started_at: iso(row.started_at), seen_at: iso(row.seen_at), inflight: row.inflight }));
  }

  /** Push the leases of what this daemon has in flight a lease further on. */
  /**
   * Push the leases of what this daemon has in flight a lease further on, and
   * give back at once any lease it holds without knowing: a claim whose
   * answer was lost with its connection committed all the same.
   */
  private async renew(): Promise<void> {
    if (this.closing) return;
    const now = this.clock.now();
    const known = [...this.inflight.places()].map((place) => place.row);
    if (known.length > 0) {
      await this.pool.query('UPDATE gocm.tokens SET lease_until = $3 WHERE lease_owner = $1 AND row = ANY($2::bigint[])', [this.daemonId, known, now + this.options.leaseMs]);
    }
    // Only leases taken well before this look, and never while a claim is on its way (its rows
    // are not known yet): a claim that commits meanwhile leases its rows until after the cut-off.
    if (this.claiming > 0) return;
    const takenBefore = now + this.options.leaseMs - Math.max(1000, this.options.leaseMs / 10);
    const orphans = await this.pool.query(
      'UPDATE gocm.tokens SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND lease_until < $3 AND NOT (row = ANY($2::bigint[]))',
      [this.daemonId, [...this.inflight.places()].map((place) => place.row), takenBefore],
    );
    if ((orphans.rowCount ?? 0) > 0) {
      this.log.info({ tokens: orphans.rowCount }, 'claims whose answer was lost went back to the queue');
      await this.notify('release');
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.closing) return;
    const now = this.clock.now();
    await this.pool.query('UPDATE gocm.daemons SET seen_at = $2, inflight = $3 WHERE id = $1', [this.daemonId, now, this.inflight.size]);
    // Members not seen for ten leases are gone for good: their row goes.
    await this.pool.query('DELETE FROM gocm.daemons WHERE seen_at < $1', [now - 10 * this.options.leaseMs]);
  }

  /** Claims whose lease ran out (a daemon died, or was cut off) go back to the queue, and the fleet hears of it. */
  private async reclaim(): Promise<void> {
    if (this.closing) return;
    const result = await this.pool.query('UPDATE gocm.tokens SET lease_owner = NULL, lease_until = NULL WHERE lease_until IS NOT NULL AND lease_until < $1', [this.clock.now()]);
    if ((result.rowCount ?? 0) > 0) {
      this.log.info({ tokens: result.rowCount }, 'claims whose lease ran out went back to the queue');
      await this.notify('reclaim');
    }
  }

  /** Statuses past their retention, then the oldest past the most kept, go: a batch at a time. */
  private async forget(): Promise<void> {
    if (this.closing) return;
    const before = this.clock.now() - this.statusPolicy.retentionMs;
    // Past the most kept, the oldest beyond it go too (a walk of the index, only then).
    const beyond = this.statusCount > this.statusPolicy.maxFinished;
    await this.pool.query(
      `WITH doomed AS (
         (SELECT id FROM gocm.statuses WHERE finished_at < $1 ORDER BY finished_at LIMIT 1000)
         UNION (SELECT id FROM gocm.statuses WHERE $2 ORDER BY finished_at DESC, id DESC OFFSET $3 LIMIT 1000)),
       gone AS (DELETE FROM gocm.statuses WHERE id IN (SELECT id FROM doomed) RETURNING id)
       DELETE FROM gocm.failures WHERE message IN (SELECT id FROM gone)`,
      [before, beyond, this.statusPolicy.maxFinished],
    );
    const { rows } = await this.pool.query<{ kept: string }>('SELECT count(*) AS kept FROM gocm.statuses');
    this.statusCount = Number(rows[0]?.kept ?? 0);
  }

  /**
   * VACUUM the hot table if it holds enough dead rows and no other member is at it. SKIP_LOCKED: an
   * autovacuum already under way is left to finish, never waited for. TRUNCATE false: giving the end
   * of the file back would take the table's exclusive lock (replayed on standbys) for pages the next
   * inserts reuse anyway. A role that may not vacuum the table is found once and leaves it to autovacuum.
   */
  private async vacuum(): Promise<void> {
    if (this.closing || this.vacuumAllowed === false) return;
    const client = await this.pool.connect();
    let failure: Error | undefined;
    try {
      const { rows } = await client.query<{ won: boolean; pid: number; allowed: boolean }>(
        `SELECT pg_try_advisory_lock($1) AS won, pg_backend_pid() AS pid,
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'gocm.tokens'::regclass), 'MEMBER')
                OR pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER') AS allowed`,
        [VACUUM_LOCK],
      );
      const [row] = rows;
      if (row?.won !== true) return;
      try {
        if (!row.allowed) {
          this.vacuumAllowed = false;
          this.log.info({}, 'this role may not VACUUM gocm.tokens (it owns neither the table nor the database): autovacuum alone keeps it');
          return;
        }
        const dead = await client.query<{ dead: string }>("SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relid = 'gocm.tokens'::regclass");
        if (this.closing || Number(dead.rows[0]?.dead ?? 0) < VACUUM_DEAD_ROWS) return;
        // Known before anything runs, so that a close() from now on cancels what does.
        this.vacuumBackend = row.pid;
        try {
          // The pool's 5 s deadlines are for the hot path: a table an outage let grow takes longer.
          await client.query('SET statement_timeout = 0');
          try {
            // pg reads a query's own query_timeout (its types do not say so).
            const statement: pg.QueryConfig & { query_timeout: number } = { text: 'VACUUM (SKIP_LOCKED, TRUNCATE false) gocm.tokens', query_timeout: VACUUM_TIMEOUT_MS };
            if (!this.closing) await client.query(statement);
          } finally {
            // Never back into the pool without its deadline.
            await client.query('RESET statement_timeout');
          }
        } finally {
          this.vacuumBackend = undefined;
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [VACUUM_LOCK]);
      }
      this.vacuumProblem = undefined;
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      throw failure;
    } finally {
      // A session left in doubt (its lock, its deadline) is closed rather than given back to the pool.
      client.release(failure);
    }
  }

  /** Said once per kind of failure until a VACUUM works again; a VACUUM cancelled by close() is not a failure. */
  private vacuumFailed(error: unknown): void {
    if (this.closing) return;
    const reason = error instanceof Error ? error.message : String(error);
    if (reason === this.vacuumProblem) return;
    this.vacuumProblem = reason;
    this.log.warn({ code: errorCode(error), reason }, 'could not VACUUM gocm.tokens; tried again in 5 s, and autovacuum goes on meanwhile');
  }

  private async notify(what: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [WORK_CHANNEL, what]).catch(() => undefined);
  }

  /** Commit what waits, give this daemon's claims back, leave the fleet, disconnect. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      while (this.committing || this.batch.length > 0 || this.flushScheduled) {
        if (this.committing) await this.committing;
        else await new Promise((resolve) => setImmediate(resolve));
      }
      // A claim under way when the stop began (bench/fleet.js found 1 fill in 6 leaving 1,000 tokens leased for 30 s).
      await Promise.all(this.claims);
      const backend = this.vacuumBackend;
      if (backend !== undefined) await this.pool.query('SELECT pg_cancel_backend($1)', [backend]).catch(() => undefined);
      await this.vacuuming;
      try {
        await this.pool.query('UPDATE gocm.tokens SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [this.daemonId]);
        await this.pool.query('DELETE FROM gocm.daemons WHERE id = $1', [this.daemonId]);
        await this.notify('stop');
      } catch (error) {
        this.log.warn({ err: error }, 'could not give the claims back; the others take them when their lease runs out');
      }
      await this.notifications.close();
      await this.pool.end();
    })();
    return this.closing;
  }
}

/** bigint ids as strings, compared as numbers. */
function compareRows(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Rows of tuples → one array per column, for unnest(). */
function columns<T extends unknown[]>(rows: readonly T[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((row) => row[i]));
}

/** The last entry for each (app, original): a token replaced twice in one batch keeps its latest. */
function lastPerKey(entries: ReadonlyArray<[number, string, string]>): Array<[number, string, string]> {
  const last = new Map<string, [number, string, string]>();
  for (const entry of entries) last.set(`${entry[0]}\0${entry[1]}`, entry);
  return [...last.values()];
}

/** pg's errors carry their client (and its whole state): what is logged is the code and the reason only. */
function unavailable(error: unknown, what: string): SpoolUnavailableError {
  const code = errorCode(error) ?? 'error';
  const reason = error instanceof Error ? error.message : String(error);
  return new SpoolUnavailableError(`PostgreSQL is unreachable or failed (${code}: ${reason}); ${what}`, { code, reason });
}
