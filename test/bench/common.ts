// What every benchmark scenario shares: the machine's description, the one
// JSON line + one readable line of results, a hard time limit, and clean-up of
// the processes and directories a scenario made, however it ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DaemonProcess, GOCMD, ROOT } from '../support/daemon.js';

export const QUICK = process.argv.includes('--quick');

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux: os.cpus() is as good as it gets
  }
  return { cpu: cpu.trim(), cores: cpus().length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version };
}

export function describeMachine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}`;
}

/** The scenario's result: one JSON line (for tools), one line for people. */
export function printResult(scenario: string, figures: Record<string, unknown>, readable: string): void {
  process.stdout.write(`${JSON.stringify({ scenario, quick: QUICK, ...figures, machine: machine() })}\n`);
  process.stdout.write(`${scenario}: ${readable}\n`);
}

/** A progress note, on stderr so that stdout stays the results. */
export function note(text: string): void {
  process.stderr.write(`  [${new Date().toISOString().slice(11, 23)}] ${text}\n`);
}

const cleanups: Array<() => void> = [];
let cleaned = false;

/** Run at exit, on a signal, or when the time limit strikes; must be synchronous and safe twice. */
export function onCleanup(cleanup: () => void): void {
  cleanups.push(cleanup);
}

function cleanUp(): void {
  if (cleaned) return;
  cleaned = true;
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: the others must still run
    }
  }
}

process.once('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

export function removeOnCleanup(dir: string): void {
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}

/** Signal `child` at clean-up unless it has exited by then. */
export function killOnCleanup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

/** End the scenario with status 1 if it runs longer than `ms`. */
export function hardLimit(ms: number): void {
  setTimeout(() => {
    process.stderr.write(`time limit of ${ms / 1000} s reached; stopping\n`);
    process.exit(1);
  }, ms).unref();
}

/** Run `main`, print its failure on stderr, exit 1 on failure and 0 (after clean-up) on success. */
export function runScenario(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * Start gocmd as test/support/daemon.ts does, with node flags for the daemon
 * from GOCM_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": the
 * profile is written when the daemon stops on SIGTERM). Killed at clean-up.
 */
export async function launchDaemon(dir: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<DaemonProcess> {
  const socket = args[args.indexOf('--socket') + 1];
  if (!args.includes('--socket') || socket === undefined) throw new Error('launchDaemon needs --socket');
  const nodeArgs = (process.env.GOCM_BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, GOCMD, ...args], {
    env: { PATH: process.env.PATH, HOME: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnCleanup(child);
  const daemon = new DaemonProcess(child, dir, socket, false);
  const ready = new Promise<void>((resolve) => {
    const onData = (): void => {
      if (!daemon.stdoutText.includes('"msg":"ready"')) return;
      child.stdout?.off('data', onData);
      resolve();
    };
    child.stdout?.on('data', onData);
  });
  const exited = daemon.exited.then((exit) => {
    throw new Error(`gocmd exited (${exit.code ?? exit.signal}) before it was ready:\n${daemon.output()}`);
  });
  try {
    await Promise.race([ready, exited]);
  } catch (error) {
    await daemon.close();
    throw error;
  }
  exited.catch(() => undefined);
  return daemon;
}

/** SIGTERM (so that a profile gets written), then make sure it is gone. */
export async function stopDaemon(daemon: DaemonProcess): Promise<void> {
  await daemon.stop('SIGTERM');
  await daemon.close();
}

/** Resident set figures of a process, in MiB, from /proc/<pid>/status. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: round(kib('VmRSS') / 1024, 1), peakMiB: round(kib('VmHWM') / 1024, 1) };
}

/** CPU time (user + system, seconds) a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  // The fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU time (seconds) of this process' children that have exited and been
 * reaped (cutime + cstime of stat(5)): how a child that is gone before it
 * can be watched (wrk) is still measured.
 */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Busy CPU time (seconds) of the whole machine so far, from /proc/stat: everything but idle and iowait. */
export function machineBusySeconds(): number {
  const fields = (/^cpu\s+(.+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Other processes share this machine (builds, other benchmarks): measure how
 * many cores they kept busy while ours ran, so that a figure taken on a busy
 * machine says so.
 */
export class CpuWatch {
  private readonly machine = machineBusySeconds();
  private readonly self = process.cpuUsage();
  private readonly pids: ReadonlyMap<number, number>;
  private readonly started = performance.now();

  constructor(pids: readonly number[]) {
    this.pids = new Map(pids.map((pid) => [pid, cpuSecondsOf(pid)]));
  }

  /**
   * Cores used on average since construction: by each watched pid, by this
   * process, by everything else. A pid that has exited by now must be in
   * `exited`, with the CPU seconds it reported itself.
   */
  read(exited: Readonly<Record<number, number>> = {}): { seconds: number; cores: Record<string, number>; self: number; others: number; load1: number } {
    const seconds = (performance.now() - this.started) / 1000;
    const cores: Record<string, number> = {};
    let ours = 0;
    for (const [pid, before] of this.pids) {
      const used = exited[pid] ?? cpuSecondsOf(pid) - before;
      ours += used;
      cores[pid] = round(used / seconds, 2);
    }
    const usage = process.cpuUsage(this.self);
    const self = (usage.user + usage.system) / 1e6;
    const others = Math.max(0, machineBusySeconds() - this.machine - ours - self);
    return { seconds, cores, self: round(self / seconds, 2), others: round(others / seconds, 2), load1: round(loadavg()[0] ?? 0, 2) };
  }
}

/** Said beside figures taken while other processes kept more than a fifth of a core busy. */
export function busyNote(otherCores: number): string {
  return otherCores > 0.2 ? ` [other processes kept ${otherCores} cores busy: every figure here is understated, CPU per unit included]` : '';
}

/**
 * Wait (at most `maxMs`) until the machine's other work keeps less than
 * `cores` busy over a second; resolves with the last reading.
 */
export async function quietMachine(cores = 0.25, maxMs = 60_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const before = machineBusySeconds();
    await sleep(1_000);
    const busy = round(machineBusySeconds() - before, 2);
    if (busy < cores || Date.now() > deadline) return busy;
  }
}

export function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** How many delivery threads gocmd chose (its `ready` log line says): what "the default" meant on this machine. */
export function workersOf(daemon: DaemonProcess): number | undefined {
  const ready = daemon.logs().find((line) => line.msg === 'ready');
  return typeof ready?.workers === 'number' ? ready.workers : undefined;
}

/** The `p`th percentile (0–100) of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface FakeFcmProcess {
  readonly url: string;
  readonly caFile: string;
  readonly credentials: string;
  readonly projectId: string;
  readonly child: ChildProcess;
  /** SIGTERM, so that it removes its certificate and key files; resolves on exit. */
  stop(): Promise<void>;
}

/** The fake FCM v1 server (test/support/fake-fcm.ts) in its own process, over TLS + HTTP/2. */
export async function startFakeFcmProcess(latencyMs: number): Promise<FakeFcmProcess> {
  const fake = await startFakeProcess<{ url: string; caFile: string; credentials: string; projectId: string }>('fake-fcm', ['--tls', '--port', '0', '--latency-ms', String(latencyMs)]);
  return { ...fake.info, child: fake.child, stop: () => fake.stop() };
}

export interface FakeProcess<Info> {
  /** The fake's first stdout line, parsed. */
  readonly info: Info;
  readonly child: ChildProcess;
  /** SIGTERM, so that it removes its files; resolves on exit. */
  stop(): Promise<void>;
}

/** A fake of test/support in its own process (`fake-apns`, `fake-webpush`), once it has printed its JSON line. */
export async function startFakeProcess<Info>(name: string, args: readonly string[]): Promise<FakeProcess<Info>> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'support', `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  killOnCleanup(child, 'SIGTERM');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    exited.then(() => {
      throw new Error(`${name} exited before it was ready`);
    }),
  ]);
  lines.close();
  return {
    info: JSON.parse(first) as Info,
    child,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Ask `report` every `pollMs` until nothing is pending; the last report. */
export async function untilSettled(client: { request(line: object): Promise<Record<string, unknown>> }, pollMs = 50): Promise<Record<string, unknown>> {
  let report = await client.request({ cmd: 'report' });
  while (report.pending !== 0) {
    await sleep(pollMs);
    report = await client.request({ cmd: 'report' });
  }
  return report;
}

/** What a run of the bare client (bare-h2.ts) measured. */
export interface BareRun {
  readonly tokens: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** CPU time (user + system) it spent per request: on a shared machine, steadier than the rates. */
  readonly cpuMicrosPerToken: number;
  readonly peakRssMiB: number;
  /** Cores used on average while it ran: the client's, the fake's, everything else's. */
  readonly cpuCores: Record<string, number>;
}

/**
 * The yardstick of the delivery benchmarks: bare-h2.js in its own process with `args` (its target
 * and shape), `requests` of them; every one must be answered 200. `fake` is watched for its CPU.
 */
export async function runBareClient(args: readonly string[], requests: number, fake: { readonly caFile: string; readonly child: ChildProcess }): Promise<BareRun> {
  const script = join(ROOT, 'dist', 'test', 'bench', 'bare-h2.js');
  const child = spawn(process.execPath, [script, ...args, '--requests', String(requests)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: fake.caFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnCleanup(child);
  const pid = child.pid as number;
  const fakePid = fake.child.pid as number;
  const watch = new CpuWatch([pid, fakePid]);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let result: { ok: number; statuses: Record<string, number>; seconds: number; cpuSeconds: number; peakRssMiB: number } | undefined;
  lines.on('line', (line) => (result = JSON.parse(line) as typeof result));
  const code = await exit;
  if (code !== 0 || result === undefined) throw new Error(`bare-h2 failed (exit ${code})`);
  const usage = watch.read({ [pid]: result.cpuSeconds });
  if (result.ok !== requests) throw new Error(`bare-h2: not every request got 200: ${JSON.stringify(result.statuses)}`);
  return {
    tokens: requests,
    seconds: round(result.seconds, 3),
    perSecond: Math.round(requests / result.seconds),
    cpuMicrosPerToken: Math.round((result.cpuSeconds * 1e6) / requests),
    peakRssMiB: result.peakRssMiB,
    cpuCores: { bare: usage.cores[pid] ?? 0, fake: usage.cores[fakePid] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
  };
}
