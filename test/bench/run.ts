// `npm run bench`: every scenario in its own process, one after another, then
// the machine and each scenario's readable line together. A scenario that
// fails or outlives its limit is reported and the others still run.
//
//   node dist/test/bench/run.js [--quick] [scenario…]   (default: ingest ingest-delivering delivery delivery-gcm delivery-apns webpush memory; soak, pg-clients, http, fleet, fleet-churn, observe only when named)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, QUICK, quietMachine } from './common.js';

const SCENARIOS = ['ingest', 'ingest-delivering', 'delivery', 'delivery-gcm', 'delivery-apns', 'webpush', 'memory'] as const;
/**
 * Run only when named: soak is longer, and about robustness rather than speed; pg-clients chose a
 * dependency; http needs wrk (apt-get install wrk); fleet and fleet-churn need PostgreSQL; observe
 * runs ingest and delivery six times each to price --metrics, a cost to check when the hot paths change.
 */
const OPT_IN = ['soak', 'pg-clients', 'http', 'fleet', 'fleet-churn', 'observe'] as const;
/** Beyond each scenario's own limit: the runner's last word. */
const SCENARIO_LIMIT_MS = 10 * 60_000;
const HERE = dirname(fileURLToPath(import.meta.url));

interface Outcome {
  readonly scenario: string;
  readonly code: number | null;
  readonly readable: string[];
}

function runOne(scenario: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, `${scenario}.js`), ...(QUICK ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: SCENARIO_LIMIT_MS,
      killSignal: 'SIGTERM',
    });
    const readable: string[] = [];
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      process.stdout.write(text);
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      readable.push(...lines.filter((line) => line.startsWith(`${scenario}: `)));
    });
    child.once('close', (code) => resolve({ scenario, code, readable }));
  });
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const known: readonly string[] = [...SCENARIOS, ...OPT_IN];
  const unknown = asked.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const chosen = asked.length > 0 ? asked : [...SCENARIOS];
  const machine = describeMachine();
  process.stdout.write(`gocm benchmarks${QUICK ? ' (quick)' : ''} on ${machine}\n`);
  const outcomes: Outcome[] = [];
  for (const scenario of chosen) {
    // Figures from a machine busy with other work say little: give that work a minute to finish.
    const busy = await quietMachine();
    process.stdout.write(`\n# ${scenario} (other work on the machine before the start: ${busy} cores)\n`);
    outcomes.push(await runOne(scenario));
  }
  process.stdout.write(`\n## Summary: ${machine}\n`);
  for (const outcome of outcomes) {
    if (outcome.code !== 0) process.stdout.write(`${outcome.scenario}: FAILED (exit ${outcome.code ?? 'by signal'})\n`);
    for (const line of outcome.readable) process.stdout.write(`${line}\n`);
  }
  process.exitCode = outcomes.every((outcome) => outcome.code === 0) ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
