// How long the SQLite spool's group commit holds the event loop: sends of one
// ~160-character token, committed `group` to a transaction, as the ingest
// benchmark sends them. Times each commit (the whole synchronous flush: the
// statements and the commit) on a real file with synchronous=NORMAL.
// Not a test (node --test runs only *.test.js); run it by hand:
//
//   node dist/test/bench/spool-commit.js [sends=200000] [group sizes=1,10,100,1000]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteSpool } from '../../src/spool/sqlite.js';

const SENDS = Number(process.argv[2] ?? 200_000);
const GROUPS = (process.argv[3] ?? '1,10,100,1000').split(',').map(Number);
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const CONTENT = { payload: { title: 'Hi', n: 3 } };

interface Flushing {
  flush(): void;
  readonly batch: readonly unknown[];
}

async function measure(group: number): Promise<{ group: number; usPerSend: number; p50Ms: number; p99Ms: number; maxMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gocm-flush-bench-'));
  const spool = new SqliteSpool(join(dir, 'spool.db'), { sync: 'normal', spoolMax: 10_000_000 });
  // Times every flush from outside: the private method, wrapped.
  const inner = spool as unknown as Flushing;
  const flush = inner.flush.bind(spool);
  const times: number[] = [];
  inner.flush = () => {
    if (inner.batch.length === 0) return flush();
    const start = performance.now();
    flush();
    times.push(performance.now() - start);
  };
  try {
    for (let sent = 0; sent < SENDS; sent += group) {
      const adds: Array<Promise<void>> = [];
      for (let i = 0; i < group; i++) adds.push(spool.add({ id: randomUUID(), app: 'default', acceptedAt: Date.now(), content: CONTENT }, [TOKEN]));
      await Promise.all(adds);
    }
  } finally {
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const total = times.reduce((a, b) => a + b, 0);
  times.sort((a, b) => a - b);
  const at = (p: number): number => Math.round((times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)] ?? NaN) * 1000) / 1000;
  return { group, usPerSend: Math.round((total * 1000 * 100) / SENDS) / 100, p50Ms: at(50), p99Ms: at(99), maxMs: at(100) };
}

for (const group of GROUPS) process.stdout.write(`${JSON.stringify(await measure(group))}\n`);
