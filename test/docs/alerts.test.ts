// The README's Prometheus examples work: the scrape configuration and the
// alert rules pass promtool's checks, and each alert fires on the series it
// is written for (promtool's rule unit tests), and not on normal churn.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../support/daemon.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const YAML = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] as string);

function block(marker: string): string {
  const found = YAML.find((text) => text.includes(marker));
  assert.ok(found, `README has a yaml block with ${marker}`);
  return found;
}

function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile('promtool', [...args], (error, stdout, stderr) => {
      const code = error ? error.code : 0;
      // Missing promtool fails the test: .ci/run installs Debian's prometheus package for it.
      if (typeof code !== 'number') reject(new Error(`promtool: ${String(error)} (apt-get install prometheus)`));
      else resolve({ code, output: stdout + stderr });
    });
  });
}

/** Series of one daemon over an hour: pending growing, a wrong-project failure rate of 6%, the spool unwritable from minute 10. */
const UNIT_TESTS = `
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'gocm_pending_tokens{job="gocm",instance="h:9464",app="default",state="queued"}'
        values: '0+100x60'
      - series: 'gocm_oldest_pending_age_seconds{job="gocm",instance="h:9464",app="default"}'
        values: '0+60x60'
      - series: 'gocm_delivered_tokens_total{job="gocm",instance="h:9464",app="default"}'
        values: '0+1000x60'
      - series: 'gocm_failed_tokens_total{job="gocm",instance="h:9464",app="default",reason="SENDER_ID_MISMATCH"}'
        values: '0+100x60'
      - series: 'gocm_failed_tokens_total{job="gocm",instance="h:9464",app="default",reason="UNREGISTERED"}'
        values: '0+500x60'
      - series: 'gocm_spool_writable{job="gocm",instance="h:9464",app="default"}'
        values: '1x10 0x50'
      - series: 'up{job="gocm",instance="h:9464"}'
        values: '1x60'
    alert_rule_test:
      - {eval_time: 10m, alertname: GocmPendingGrowing, exp_alerts: []}
      - eval_time: 60m
        alertname: GocmPendingGrowing
        exp_alerts: [{exp_labels: {instance: 'h:9464', app: default}}]
      - eval_time: 60m
        alertname: GocmFailures
        exp_alerts: [{exp_labels: {instance: 'h:9464', app: default, reason: SENDER_ID_MISMATCH}}]
      - {eval_time: 11m, alertname: GocmSpoolNotWritable, exp_alerts: []}
      - eval_time: 20m
        alertname: GocmSpoolNotWritable
        exp_alerts: [{exp_labels: {instance: 'h:9464'}}]
`;

describe("the README's Prometheus examples", () => {
  test('the scrape configuration and the rules pass promtool; each alert fires where it should', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gocm-alerts-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'prometheus.yml'), block('scrape_configs:'));
    const rules = block('groups:');
    writeFileSync(join(dir, 'gocm.rules.yml'), rules);
    // The unit tests compare annotations too; theirs hold the value, so they are left out there.
    writeFileSync(join(dir, 'rules.yml'), rules.split('\n').filter((line) => !/^\s+(annotations|summary):/.test(line)).join('\n'));
    writeFileSync(join(dir, 'tests.yml'), UNIT_TESTS);

    const config = await promtool(['check', 'config', '--syntax-only', join(dir, 'prometheus.yml')]);
    assert.equal(config.code, 0, config.output);
    const checked = await promtool(['check', 'rules', join(dir, 'gocm.rules.yml')]);
    assert.equal(checked.code, 0, checked.output);
    assert.match(checked.output, /SUCCESS: 3 rules found/);
    const tested = await promtool(['test', 'rules', join(dir, 'tests.yml')]);
    assert.equal(tested.code, 0, tested.output);
  });
});
