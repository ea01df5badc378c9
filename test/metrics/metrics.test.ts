// GET /metrics of a real daemon (SPEC.md "Observing it"): scraped while a
// mixed batch is held at the fake upstream and again once it is final, its
// counters equal the report's, its gauges show the work under way, and the
// text parses and passes `promtool check metrics`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { type Reply } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { type Exposition, httpGet, metricsBase, parseExposition, scrape, total } from '../support/metrics.js';

/** Four sends, one request each: what the fake answers is scripted by each token's prefix. */
const SENDS = [
  [...tokens('ok', 20), ...tokens('canon', 2)],
  [...tokens('gone', 3), ...tokens('invalid', 2)],
  tokens('unavail', 2), // Unavailable every time: two retries each, then a final failure
  tokens('flaky1', 3), // Unavailable once, then delivered
];
const TOKENS = SENDS.flat().length;

function tokens(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/** The report's counters beside the families that must equal them. */
function assertMatchesReport(metrics: Exposition, report: Reply): void {
  assert.deepEqual(
    {
      attempts: total(metrics, 'gocm_accepted_tokens_total'),
      successes: total(metrics, 'gocm_delivered_tokens_total'),
      failures: total(metrics, 'gocm_failed_tokens_total'),
      retries: total(metrics, 'gocm_retries_total'),
      notregistered: total(metrics, 'gocm_notregistered_tokens_total'),
      canonicals: total(metrics, 'gocm_canonical_tokens_total'),
    },
    { attempts: report.attempts, successes: report.successes, failures: report.failures, retries: report.retries, notregistered: report.notregistered, canonicals: report.canonicals },
  );
}

/** The text's gocm_ lines (and their HELP and TYPE) through promtool: prom-client's own `…_total` gauges are not ours to judge. */
function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const ours = text.split('\n').filter((line) => /^(# (HELP|TYPE) )?gocm_/.test(line)).join('\n') + '\n';
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += String(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)));
    // Missing promtool fails the test: .ci/run installs Debian's prometheus package for it.
    child.once('error', (error) => reject(new Error(`promtool: ${error.message} (apt-get install prometheus)`)));
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(ours);
  });
}

describe('GET /metrics', () => {
  test('during and after a mixed batch: counters equal the report, gauges show the work, the text is valid', { timeout: 60_000 }, async (t) => {
    let release: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let requests = 0;
    let allArrived: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (allArrived = resolve));
    const setup = await startGcmDaemon(['--metrics', '127.0.0.1:0', '--retries', '2'], {
      hold,
      onRequest: () => ++requests === SENDS.length && allArrived(),
    });
    t.after(() => {
      release();
      return setup.close();
    });
    const base = metricsBase(setup.daemon);
    const client = await setup.daemon.connect();
    t.after(() => client.close());
    for (const batch of SENDS) assert.equal((await client.request({ cmd: 'send', tokens: batch, payload: { n: 1 } })).accepted, batch.length);

    // Every first request is out and held: nothing can change until it is released.
    await arrived;
    const during = await scrape(base);
    assertMatchesReport(during, await client.request({ cmd: 'report' }));
    assert.equal(total(during, 'gocm_accepted_tokens_total', { app: 'default' }), TOKENS);
    assert.equal(total(during, 'gocm_upstream_requests_in_flight', { app: 'default' }), SENDS.length);
    assert.equal(total(during, 'gocm_pending_tokens', { app: 'default', state: 'inflight' }), TOKENS);
    assert.equal(total(during, 'gocm_pending_tokens', { app: 'default' }), TOKENS);
    const age = during.samples.find((sample) => sample.name === 'gocm_oldest_pending_age_seconds' && sample.labels.app === 'default');
    assert.ok(age !== undefined && age.value >= 0 && age.value < 60, `the oldest pending token's age: ${JSON.stringify(age)}`);
    assert.equal(total(during, 'gocm_ack_duration_seconds_count', { app: 'default' }), SENDS.length, 'one acknowledgement timed per send');
    assert.equal(total(during, 'gocm_upstream_request_duration_seconds_count', { app: 'default' }), 0, 'nothing answered yet');

    release();
    const report = await setup.daemon.settled();
    const after = await scrape(base);
    assertMatchesReport(after, report);
    assert.deepEqual([report.successes, report.failures, report.retries], [25, 7, 7], JSON.stringify(report));
    const failed = (reason: string): number => total(after, 'gocm_failed_tokens_total', { app: 'default', reason });
    assert.deepEqual([failed('NotRegistered'), failed('InvalidRegistration'), failed('Unavailable')], [3, 2, 2]);
    assert.equal(total(after, 'gocm_retries_total', { app: 'default', reason: 'Unavailable' }), 7);
    assert.equal(total(after, 'gocm_pending_tokens', { app: 'default' }), 0);
    assert.equal(total(after, 'gocm_upstream_requests_in_flight', { app: 'default' }), 0);
    assert.equal(total(after, 'gocm_upstream_request_duration_seconds_count', { app: 'default' }), setup.upstream.requests, 'every request timed');
    assert.equal(total(after, 'gocm_app_paused', { app: 'default' }), 0);
    assert.equal(total(after, 'gocm_spool_writable', { app: 'default' }), 1);
  });

  test('the families: names, types, labels, histogram buckets, the process metrics, and promtool', { timeout: 30_000 }, async (t) => {
    const setup = await startGcmDaemon(['--metrics', '127.0.0.1:0']);
    t.after(() => setup.close());
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-a', 'gone-b'], payload: {} });
    await setup.daemon.settled();
    const answer = await httpGet(`${metricsBase(setup.daemon)}/metrics`);
    assert.equal(answer.status, 200);
    assert.match(answer.contentType, /^text\/plain; version=0\.0\.4/);
    const metrics = parseExposition(answer.body);

    const expected: Record<string, string> = {
      gocm_accepted_tokens_total: 'counter', gocm_delivered_tokens_total: 'counter', gocm_failed_tokens_total: 'counter',
      gocm_retries_total: 'counter', gocm_notregistered_tokens_total: 'counter', gocm_canonical_tokens_total: 'counter',
      gocm_pending_tokens: 'gauge', gocm_oldest_pending_age_seconds: 'gauge', gocm_upstream_requests_in_flight: 'gauge',
      gocm_app_paused: 'gauge', gocm_spool_writable: 'gauge',
      gocm_upstream_request_duration_seconds: 'histogram', gocm_ack_duration_seconds: 'histogram',
    };
    const ours = Object.fromEntries([...metrics.types].filter(([name]) => name.startsWith('gocm_')));
    assert.deepEqual(ours, expected);
    const gocm = metrics.samples.filter((sample) => sample.name.startsWith('gocm_'));
    assert.deepEqual(gocm.filter((sample) => sample.labels.app !== 'default'), [], 'every gocm_ sample has its app');
    assert.deepEqual(new Set(gocm.filter((s) => s.name === 'gocm_pending_tokens').map((s) => s.labels.state)), new Set(['queued', 'scheduled', 'inflight', 'retrying']));
    assert.equal(total(metrics, 'gocm_failed_tokens_total', { reason: 'NotRegistered' }), 1);
    for (const family of ['gocm_ack_duration_seconds', 'gocm_upstream_request_duration_seconds']) {
      const buckets = gocm.filter((sample) => sample.name === `${family}_bucket`);
      assert.deepEqual(buckets.map((s) => s.value), [...buckets.map((s) => s.value)].sort((a, b) => a - b), `${family}: buckets are cumulative`);
      assert.equal(buckets.at(-1)?.labels.le, '+Inf');
      assert.equal(buckets.at(-1)?.value, total(metrics, `${family}_count`));
      assert.ok(total(metrics, `${family}_count`) >= 1 && total(metrics, `${family}_sum`) > 0, family);
    }
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(metrics.types.has(name), `the process' own ${name}`);
    }
    const checked = await promtool(answer.body);
    assert.deepEqual(checked, { code: 0, output: '' }, 'promtool check metrics finds nothing to say about our families');
  });

  test('only GET or HEAD of /metrics and /healthz', { timeout: 30_000 }, async (t) => {
    const setup = await startGcmDaemon(['--metrics', '127.0.0.1:0']);
    t.after(() => setup.close());
    const base = metricsBase(setup.daemon);
    assert.equal((await httpGet(`${base}/`)).status, 404);
    assert.equal((await httpGet(`${base}/metrics/x`)).status, 404);
    assert.equal((await httpGet(`${base}/metrics`, { method: 'POST' })).status, 405);
    const head = await httpGet(`${base}/healthz`, { method: 'HEAD' });
    assert.deepEqual([head.status, head.body], [200, '']);
    assert.equal((await httpGet(`${base}/metrics?x=1`)).status, 200);
    assert.deepEqual(await setup.daemon.request({ cmd: 'ping' }), { ok: true }, 'the daemon serves on');
  });
});
