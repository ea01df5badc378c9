// Reading a daemon's /metrics and /healthz as a scraper would: where it
// listens (from its log), plain HTTP GETs, and a strict reader of the
// Prometheus text format that fails on any line it does not understand.
import { request } from 'node:http';
import type { DaemonProcess } from './daemon.js';

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The base URL of the daemon's metrics listener, from its "serving /metrics" log line. */
export function metricsBase(daemon: DaemonProcess): string {
  const line = daemon.logs().find((entry) => entry.msg === 'serving /metrics and /healthz');
  if (typeof line?.metrics !== 'string') throw new Error(`the daemon does not serve metrics:\n${daemon.output().slice(-2000)}`);
  return `http://${line.metrics}`;
}

export interface GetOptions {
  readonly method?: string;
  /** Over this Unix socket rather than TCP (a socket systemd passed). */
  readonly socketPath?: string;
}

export function httpGet(url: string, options: GetOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: options.method ?? 'GET', agent: false, ...(options.socketPath && { socketPath: options.socketPath }) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', body }));
      response.once('error', reject);
    });
    outgoing.once('error', reject);
    outgoing.end();
  });
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  /** # TYPE of each family. */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/;

/** Parse the text format (version 0.0.4); throws on the first line that is not HELP, TYPE, blank or a sample. */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    const match = SAMPLE.exec(line);
    const value = valueOf(match?.[3] ?? '');
    if (!match || value === undefined) throw new Error(`line ${index + 1} is not in the text format: ${line}`);
    const labels: Record<string, string> = {};
    for (let rest = match[2] ?? ''; rest !== ''; ) {
      const label = LABEL.exec(rest);
      if (!label) throw new Error(`line ${index + 1}: bad labels: ${line}`);
      labels[label[1] as string] = (label[2] as string).replace(/\\(.)/g, (_all, escaped: string) => (escaped === 'n' ? '\n' : escaped));
      rest = rest.slice(label[0].length);
    }
    samples.push({ name: match[1] as string, labels, value });
  }
  return { types, samples };
}

/**
 * A sample's value as Prometheus reads it (Go's ParseFloat): a number, or NaN
 * and ±Inf in any case (prom-client writes an unset gauge as "Nan").
 */
function valueOf(text: string): number | undefined {
  if (/^nan$/i.test(text)) return NaN;
  if (/^[+-]?inf(inity)?$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  const value = Number(text);
  return text === '' || Number.isNaN(value) ? undefined : value;
}

/** Scrape /metrics and parse it. */
export async function scrape(base: string): Promise<Exposition> {
  const answer = await httpGet(`${base}/metrics`);
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.body}`);
  return parseExposition(answer.body);
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none is there). */
export function total(exposition: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return exposition.samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
