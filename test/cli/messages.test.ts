// gocmctl send --messages and --app against a real gocmd with two apps (two
// legacy apps, each with its own key, both sending to one fake upstream that
// notes which key each token came with and its payload); and, in-process,
// that the lines in flight never pass the window.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GocmClient } from '../../src/client/client.js';
import { lineRequest, numberedLines, sendMessages } from '../../src/client/messages.js';
import { LINE_TOO_LONG } from '../../src/server/framing.js';
import { type DaemonProcess, GOCMCTL, run, startDaemon, tempDir } from '../support/daemon.js';
import { type FakeGcm, startFakeGcm } from '../support/fake-gcm.js';

type Json = Record<string, unknown>;

const KEYS = { alpha: 'alpha-key-0123456789', beta: 'beta-key-0123456789' } as const;

function jsonLines(stdout: string): Json[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Json);
}

describe('gocmctl send --messages and --app', () => {
  const dir = tempDir('gocmctl-messages-');
  let upstream: FakeGcm;
  let daemon: DaemonProcess;
  /** For each token the upstream received: the app key it came with and its data payload. */
  const received = new Map<string, { key: string | undefined; data: unknown }>();
  const ctl = (args: readonly string[], input?: string): ReturnType<typeof run> =>
    run(process.execPath, [GOCMCTL, '--socket', daemon.socket, ...args], { input, env: { PATH: process.env.PATH } });

  before(async () => {
    upstream = await startFakeGcm({
      onRequest({ authorization, body }) {
        const { registration_ids: tokens, data } = body as { registration_ids: string[]; data: unknown };
        for (const token of tokens) received.set(token, { key: authorization?.replace(/^key=/, ''), data });
      },
    });
    const apps: Json = {};
    for (const [name, key] of Object.entries(KEYS)) {
      writeFileSync(join(dir, `${name}.key`), key + '\n');
      apps[name] = { provider: 'gcm', apikey_file: join(dir, `${name}.key`), endpoint: upstream.url };
    }
    writeFileSync(join(dir, 'apps.json'), JSON.stringify({ default: 'alpha', apps }));
    daemon = await startDaemon({ args: ['--apps', join(dir, 'apps.json'), '--max-backoff', '10ms'] });
  });
  after(async () => {
    await daemon?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('10,000 personalised sends with bad lines: each bad line named, the rest accepted and delivered', async () => {
    const bad = new Map<number, string>([
      [3, 'not json'],
      [500, '[1,2]'],
      [1234, '{"tokens":[],"payload":{}}'],
      [7777, '{"cmd":"notregistered"}'],
    ]);
    const lines: string[] = [];
    let sends = 0;
    for (let number = 1; lines.length < 10_000 + bad.size + 1; number++) {
      if (number === 10) lines.push(''); // blank: ignored, and no report
      else lines.push(bad.get(number) ?? JSON.stringify({ tokens: [`ok-bulk-${sends}`], payload: { name: `Ann ${sends++}` } }));
    }
    assert.equal(sends, 10_000);
    const file = join(dir, 'bulk.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const before = await daemon.request({ cmd: 'report' });

    const { code, stdout, stderr } = await ctl(['send', '--messages', file]);
    assert.equal(code, 1, stderr);
    const reports = stderr.trim().split('\n');
    assert.deepEqual(
      reports.slice(0, -1).map((line) => /^gocmctl: line (\d+): /.exec(line)?.[1]),
      ['3', '500', '1234', '7777'],
      stderr.slice(0, 2000),
    );
    assert.match(reports[2] ?? '', /line 1234: bad_request: "tokens" is empty/);
    assert.equal(reports.at(-1), 'gocmctl: sent 10001 lines: 10000 accepted, 1 refused; 3 bad lines skipped; 10000 tokens accepted');
    const replies = jsonLines(stdout);
    assert.equal(replies.length, 10_001);
    // Each reply carries its line number as its id, so a script can tell which line it answers.
    assert.deepEqual(replies.filter((reply) => !reply.ok).map((reply) => reply.id), [1234]);
    assert.equal(replies.at(-1)?.id, lines.length);

    await daemon.settled();
    const after = await daemon.request({ cmd: 'report' });
    assert.equal((after.attempts as number) - (before.attempts as number), 10_000, 'the report counts exactly the accepted tokens');
    for (let i = 0; i < 10_000; i++) {
      assert.deepEqual(received.get(`ok-bulk-${i}`), { key: KEYS.alpha, data: { name: `Ann ${i}` } }, `ok-bulk-${i}`);
    }
  });

  test('--messages - reads stdin: a byte-order mark, \\r\\n and blank lines are fine; a line\'s own id is kept', async () => {
    const input = '\uFEFF{"tokens":["ok-in-a"],"payload":{"k":"a"}}\r\n\r\n{"tokens":["ok-in-b"],"payload":{"k":"b"},"id":"mine"}';
    const { code, stdout, stderr } = await ctl(['send', '--messages', '-'], input);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      jsonLines(stdout).map((reply) => [reply.ok, reply.id, reply.accepted]),
      [
        [true, 1, 1],
        [true, 'mine', 1],
      ],
    );
    assert.equal(stderr, 'gocmctl: sent 2 lines: 2 accepted, 0 refused; 2 tokens accepted\n');
    await daemon.settled();
    assert.deepEqual(received.get('ok-in-b')?.data, { k: 'b' });
  });

  test('--app picks the app of a send; on --messages a line\'s own "app" wins; report --app counts that app alone', async () => {
    const before = await daemon.request({ cmd: 'report', app: 'beta' });
    const one = await ctl(['send', '--app', 'beta', '--token', 'ok-app-b1', '--payload', '{}']);
    assert.equal(one.code, 0, one.stderr);
    const input = ['{"tokens":["ok-app-b2"]}', '{"tokens":["ok-app-a1"],"app":"alpha"}'].join('\n');
    const many = await ctl(['send', '--app', 'beta', '--messages', '-', '--payload', '{"from":"flag"}'], input);
    assert.equal(many.code, 0, many.stderr);
    await daemon.settled();
    assert.deepEqual(received.get('ok-app-b1'), { key: KEYS.beta, data: {} });
    assert.deepEqual(received.get('ok-app-b2'), { key: KEYS.beta, data: { from: 'flag' } }, 'the flags are defaults for every line');
    assert.deepEqual(received.get('ok-app-a1'), { key: KEYS.alpha, data: { from: 'flag' } });

    const report = await ctl(['report', '--app', 'beta']);
    assert.equal(report.code, 0, report.stderr);
    assert.equal((jsonLines(report.stdout)[0]?.attempts as number) - (before.attempts as number), 2);
  });

  test('an unknown --app is the daemon\'s bad_request naming it: exit 1', async () => {
    for (const args of [['report', '--app', 'nope'], ['send', '--app', 'nope', '--token', 'ok-nope', '--payload', '{}']]) {
      const { code, stderr } = await ctl(args);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /^gocmctl: bad_request: unknown app "nope"/, args.join(' '));
    }
  });

  test('usage: --messages with --token, an empty file, and a missing one exit 2 and send nothing', async () => {
    const empty = join(dir, 'empty.ndjson');
    writeFileSync(empty, '\n\n');
    const cases: Array<[string[], RegExp]> = [
      [['send', '--messages', empty, '--token', 't'], /mutually exclusive/],
      [['send', '--messages', empty], /no messages in/],
      [['send', '--messages', join(dir, 'none.ndjson')], /--messages: cannot read .*none\.ndjson: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await ctl(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.equal(stdout, '');
    }
  });
});

describe('sendMessages keeps at most its window of lines unanswered', () => {
  const dir = tempDir('gocmctl-window-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a server that holds its replies until the window is full never sees more than the window ahead', async (t) => {
    const window = 8;
    const total = 100;
    let handled = 0;
    let unanswered = 0;
    let ahead = 0;
    let seen = 0;
    // It answers the oldest line only once `window` wait (all of them once every line came), so the
    // client has to stop at its window. Client and server share this process: a line that arrives
    // while more than `window` lines are unanswered by the client's own count was written too early.
    const server = createServer((connection) => {
      let buffered = '';
      connection.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (let i = 0; i < lines.length; i++) {
          seen += 1;
          unanswered += 1;
          ahead = Math.max(ahead, seen - handled);
          const answerable = seen === total ? unanswered : Math.max(0, unanswered - window + 1);
          connection.write('{"ok":true,"accepted":1,"msg":"m"}\n'.repeat(answerable));
          unanswered -= answerable;
        }
      });
    });
    const path = join(dir, 'window.sock');
    await new Promise<void>((resolve) => server.listen(path, resolve));
    t.after(() => server.close());
    const client = await GocmClient.connect({ path });
    t.after(() => client.destroy());
    const input = Readable.from([Array.from({ length: total }, (_, i) => `{"tokens":["t${i}"]}`).join('\n')]);
    const hooks = { onReply: () => void (handled += 1), onSkipped: () => undefined };
    const result = await sendMessages(client, numberedLines(input, 'test'), {}, hooks, window);
    assert.equal(result.accepted, total);
    assert.equal(ahead, window, 'the whole window in flight, and never more');
  });
});

describe('lineRequest: a line of --messages as a send', () => {
  const line = (frame: string, number = 4) => ({ number, frame });
  test('the flags are defaults, the line\'s own fields win, "id" is the line number unless the line has one, "cmd" is send', () => {
    const defaults = { app: 'beta', payload: { k: 'flag' }, priority: 'high' };
    assert.deepEqual(lineRequest(line('{"tokens":["t"],"app":"alpha"}'), defaults), {
      request: { cmd: 'send', id: 4, app: 'alpha', payload: { k: 'flag' }, priority: 'high', tokens: ['t'] },
      tokens: 1,
    });
    assert.equal((lineRequest(line('{"tokens":["t"],"id":"x","cmd":"send"}'), {}) as { request: Record<string, unknown> }).request.id, 'x');
  });

  const problems: Array<[string, string | typeof LINE_TOO_LONG, RegExp]> = [
    ['not JSON', '{"tokens":', /^not JSON/],
    ['an array', '[1]', /^not a JSON object/],
    ['a string', '"t1"', /^not a JSON object/],
    ['another command', '{"cmd":"notregistered"}', /leave "cmd" out/],
    ['too long', LINE_TOO_LONG, /^longer than/],
  ];
  for (const [name, frame, problem] of problems) {
    test(`${name}: a problem, not a request`, () => {
      const made = lineRequest({ number: 1, frame }, {});
      assert.ok(made !== undefined && 'problem' in made, JSON.stringify(made));
      assert.match(made.problem, problem);
    });
  }

  test('blank lines (a byte-order mark, spaces, \\r) are nothing at all', () => {
    for (const frame of ['', '  ', '\r', '\uFEFF']) assert.equal(lineRequest({ number: 1, frame }, {}), undefined);
  });
});
