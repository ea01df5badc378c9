// Fuzzing the line protocol: whatever bytes clients send, every non-blank line
// gets exactly one well-formed reply, in its place; the daemon stays up and its
// counters still add up. A failure prints its seed: GOCM_FUZZ_SEED=<seed>
// (and GOCM_FUZZ_RUNS=<n>) replays it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { LineClient, Reply } from '../support/daemon.js';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';
import { assertCountersMatch, errorCode, wellFormed } from './checks.js';
import { isObject } from '../../src/guards.js';

const SEED = Number(process.env.GOCM_FUZZ_SEED ?? Math.floor(Math.random() * 0x7fffffff));
const RUNS = Number(process.env.GOCM_FUZZ_RUNS ?? 80);

const NEWLINE = 0x0a;
const COMMANDS = ['send', 'report', 'canonical', 'notregistered', 'queue', 'ping'];
const SEND_FIELDS = ['cmd', 'id', 'tokens', 'payload', 'notification', 'android', 'apns', 'webpush', 'collapse_key', 'priority', 'ttl', 'dry_run'];

/**
 * A generated line: its bytes hold no "\n" (the daemon splits on it), so each
 * is one line. It prints itself short in fast-check's failure report.
 */
function bytes(source: Uint8Array | string): Buffer {
  const buffer = typeof source === 'string' ? Buffer.from(source, 'utf8') : Buffer.from(source);
  for (let i = 0; i < buffer.length; i++) if (buffer[i] === NEWLINE) buffer[i] = 0x20;
  return Object.assign(buffer, { [fc.toStringMethod]: () => show(buffer) });
}

const nested = (depth: number, open: string, inner: string, close: string): string => open.repeat(depth) + inner + close.repeat(depth);

/** Byte sequences that are not UTF-8: stray continuations, overlongs, surrogates, past U+10FFFF, truncations. */
const BROKEN_UTF8 = [[0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe], [0xff], [0xef, 0xbb, 0xbf], [0x00], [0x0d], [0x22], [0x5c]];

/** Numbers JSON allows but JavaScript cannot hold exactly, and number-like text JSON refuses. */
const HUGE_NUMBERS = ['1e999', '-1e999', '1e308', '1e-999', '9'.repeat(400), '-' + '9'.repeat(400), '0.' + '0'.repeat(400) + '1', '1' + '0'.repeat(1000), '-0', '0e0', '1E+2', '123456789012345678901234567890', '9007199254740993', '4.9e-324', '1.7976931348623157e308'];
const NOT_NUMBERS = ['01', '+1', '.5', '1.', 'NaN', 'Infinity', '-Infinity', '0x10', '1e', '--1', '1_000'];

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

const anyBytes = fc.uint8Array({ maxLength: 400 }).map(bytes);

const brokenUtf8 = fc
  .tuple(
    fc.array(fc.oneof(fc.constantFrom(...BROKEN_UTF8).map((sequence) => Buffer.from(sequence)), fc.string({ unit: 'binary', maxLength: 6 }).map((text) => Buffer.from(text))), { maxLength: 16 }),
    fc.boolean(),
  )
  .map(([parts, insideJson]) => {
    const body = Buffer.concat(parts);
    // Inside a JSON string: valid JSON once decoded (U+FFFD for each bad sequence), unless a quote, backslash or control byte breaks it.
    return bytes(insideJson ? Buffer.concat([Buffer.from('{"cmd":"ping","id":"'), body, Buffer.from('"}')]) : body);
  });

const rawNumber = fc.oneof(fc.constantFrom(...HUGE_NUMBERS, ...NOT_NUMBERS), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String));

const rawJsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.constantFrom('null', 'true', 'false', '[]', '{}', '""', '0', '-1', '1.5', '"x"', '[1]', '[""]', '[null]', '[["ok"]]', '{"title":1}', '{"__proto__":{}}', '"\\u0000"', '"\\ud800"'),
  rawNumber,
);

const deepNesting = fc
  .tuple(
    fc.integer({ min: 1, max: 100_000 }),
    fc.constantFrom<Array<(depth: number) => string>>(
      (n) => '['.repeat(n),
      (n) => nested(n, '[', '', ']'),
      (n) => nested(n, '{"a":', '1', '}'),
      (n) => `{"cmd":${nested(n, '[', '', ']')}}`,
      (n) => `{"cmd":"ping","id":${nested(n, '[', '1', ']')}}`,
      (n) => `{"cmd":"send","tokens":["ok-deep"],"payload":{"a":${nested(n, '[', '', ']')}}}`,
      (n) => `{"cmd":"send","tokens":["ok-deep"],"android":${nested(n, '{"a":', '1', '}')}}`,
      (n) => `{"cmd":"send","tokens":["ok-deep"],"webpush":{"b":${nested(n, '{"a":', '1', '}')}}}`,
      (n) => `{"cmd":"send","tokens":["ok-deep"],"notification":{"title":${nested(n, '[', '"t"', ']')}}}`,
      (n) => `{"cmd":"send","tokens":${nested(n, '[', '"ok-deep"', ']')}}`,
      (n) => `{"cmd":"canonical","keep":${nested(n, '[', 'true', ']')}}`,
    ),
  )
  .map(([depth, template]) => bytes(template(depth)));

const hugeNumbers = fc
  .tuple(
    rawNumber,
    fc.constantFrom<Array<(n: string) => string>>(
      (n) => n,
      (n) => `{"cmd":"ping","id":${n}}`,
      (n) => `{"cmd":"send","tokens":["ok-n"],"ttl":${n}}`,
      (n) => `{"cmd":${n}}`,
      (n) => `{"cmd":"send","tokens":[${n}]}`,
      (n) => `{"cmd":"send","tokens":["ok-n"],"payload":{"n":${n}}}`,
      (n) => `{"cmd":"notregistered","keep":${n}}`,
    ),
  )
  .map(([number, template]) => bytes(template(number)));

/** Every field of send, once with a value of any type (wrong ones mostly); a repeated key overrides the first. */
const wrongTypedSend = fc
  .tuple(fc.constantFrom(...SEND_FIELDS, 'keep', 'cmd'), rawJsonValue)
  .map(([field, raw]) => bytes(`{"cmd":"send","tokens":["ok-w"],"payload":{"k":"v"},"${field}":${raw}}`));

const protoKeys = fc
  .tuple(
    fc.constantFrom(...PROTO_KEYS),
    rawJsonValue,
    fc.constantFrom<Array<(key: string, value: string) => string>>(
      (k, v) => `{"${k}":${v},"cmd":"ping"}`,
      (k, v) => `{"cmd":"ping","${k}":${v}}`,
      (k, v) => `{"${k}":{"cmd":"ping","id":${v}}}`,
      (k, v) => `{"cmd":"send","tokens":["ok-p"],"payload":{"${k}":${v}}}`,
      (k, v) => `{"cmd":"send","tokens":["ok-p"],"notification":{"${k}":${v}}}`,
      (k, v) => `{"cmd":"send","tokens":["ok-p"],"android":{"${k}":${v}},"apns":{"${k}":{"${k}":${v}}}}`,
      (k) => `{"cmd":"${k}"}`,
      (k) => `{"cmd":"send","tokens":["${k}","ok-${k}"],"payload":{"${k}":"x"}}`,
      (k) => `{"cmd":"report","id":"${k}"}`,
    ),
  )
  .map(([key, value, template]) => bytes(template(key, value)));

const validSend = fc
  .record({
    tokens: fc.array(fc.string({ maxLength: 24, unit: fc.constantFrom('a', 'Z', '9', ':', '-', '_', 'é', '€', '😀') }).map((token) => `ok-${token}`), { minLength: 1, maxLength: 6 }),
    payload: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.integer(), fc.boolean()), { maxKeys: 4 }),
    id: fc.option(fc.oneof(fc.string({ maxLength: 12 }), fc.integer()), { nil: undefined }),
  })
  .map((send) => bytes(JSON.stringify({ cmd: 'send', ...send })));

const randomObject = fc
  .tuple(fc.oneof(fc.constantFrom(...COMMANDS), fc.string({ maxLength: 12 })), fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }))
  .map(([cmd, fields]) => bytes(JSON.stringify({ ...fields, cmd })));

/** Blank lines, CRLF, a byte-order mark in front of a request. */
const framingEdges = fc
  .tuple(fc.constantFrom('', ' ', '\t', '\r', '\u00a0', '\ufeff', ' \r', '\ufeff\ufeff', '\u2028'), fc.constantFrom('', '{"cmd":"ping","id":"edge"}', '{"cmd":"report"}'), fc.constantFrom('', '\r', ' ', '\r\r'))
  .map(([before, request, afterText]) => bytes(before + request + afterText));

const line = fc.oneof(
  { arbitrary: anyBytes, weight: 3 },
  { arbitrary: brokenUtf8, weight: 3 },
  { arbitrary: deepNesting, weight: 1 },
  { arbitrary: hugeNumbers, weight: 2 },
  { arbitrary: wrongTypedSend, weight: 4 },
  { arbitrary: protoKeys, weight: 3 },
  { arbitrary: validSend, weight: 3 },
  { arbitrary: randomObject, weight: 2 },
  { arbitrary: framingEdges, weight: 2 },
);

/** What the daemon will make of a line: blank (no reply), or the request it parses, or not JSON. */
interface Expectation {
  readonly blank: boolean;
  readonly request: unknown;
  readonly json: boolean;
}

function expectationOf(line: Buffer): Expectation {
  // The daemon decodes the stream as UTF-8 (bad bytes become U+FFFD, as here: "\n" never sits
  // inside a character) and strips one "\r" before the "\n".
  let text = line.toString('utf8');
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.trim() === '') return { blank: true, request: undefined, json: false };
  try {
    return { blank: false, request: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown, json: true };
  } catch {
    return { blank: false, request: undefined, json: false };
  }
}


function show(line: Buffer): string {
  const text = JSON.stringify(line.toString('latin1'));
  return text.length > 300 ? `${text.slice(0, 300)}… (${line.length} bytes)` : text;
}

/** The reply must fit the line: bad JSON for what is no object, the id echoed when valid, refused when not. */
function checkReply(line: Buffer, reply: Reply, context: string): number {
  const expected = expectationOf(line);
  if (!expected.json || !isObject(expected.request)) {
    assert.equal(errorCode(reply), 'bad_json', `${context}: ${JSON.stringify(reply).slice(0, 300)}`);
    return 0;
  }
  const request = expected.request;
  const id = request.id;
  const validId = id === undefined || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if (!validId) {
    assert.equal(errorCode(reply), 'bad_request', `${context}: an invalid id is refused: ${JSON.stringify(reply).slice(0, 300)}`);
    assert.ok(!('id' in reply), `${context}: an invalid id is not echoed`);
    return 0;
  }
  // JSON has no -0: compare as the wire shows them.
  assert.equal(JSON.stringify(reply.id), JSON.stringify(id), `${context}: the id is echoed`);
  if (request.cmd === 'send' && reply.ok) {
    const distinct = new Set(request.tokens as string[]).size;
    assert.equal(reply.accepted, distinct, `${context}: accepted counts distinct tokens`);
    return distinct;
  }
  return 0;
}

/** Write `stream` in pieces cut at `cuts`, each awaited, so the daemon sees lines split across reads. */
async function writeInPieces(client: LineClient, stream: Buffer, cuts: readonly number[]): Promise<void> {
  const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, stream.length]) {
    if (point <= start) continue;
    const piece = stream.subarray(start, point);
    await new Promise<void>((resolve, reject) => client.socket.write(piece, (error) => (error ? reject(error) : resolve())));
    start = point;
  }
}

/** One client: its lines, each followed by a sentinel ping whose reply must come right after the line's own. */
async function exchange(setup: GcmSetup, lines: readonly Buffer[], cuts: readonly number[], name: string): Promise<number> {
  const client = await setup.daemon.connect();
  try {
    const sentinel = (i: number): string => `${name}-sentinel-${i}`;
    const stream = Buffer.concat(lines.flatMap((line, i) => [line, Buffer.from(`\n{"cmd":"ping","id":"${sentinel(i)}"}\n`)]));
    const written = writeInPieces(client, stream, cuts);
    written.catch(() => undefined); // a failed check below closes the socket under it
    let accepted = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as Buffer;
      const context = `${name} line ${i} ${show(line)}`;
      let reply = wellFormed(await client.nextLine(), context);
      if (!expectationOf(line).blank) {
        accepted += checkReply(line, reply, context);
        reply = wellFormed(await client.nextLine(), `${context} (its sentinel)`);
      }
      assert.deepEqual(reply, { ok: true, id: sentinel(i) }, `${context}: exactly one reply, then the sentinel's`);
    }
    await written;
    return accepted;
  } finally {
    client.close();
  }
}

describe('fuzzing the line protocol', () => {
  let setup: GcmSetup;
  let accepted = 0;

  before(async () => {
    // A short request timeout: a random token may script a hang at the fake upstream.
    setup = await startGcmDaemon(['--request-timeout', '1s']);
  });
  after(() => setup.close());

  test('every line gets exactly one well-formed reply, in its place, from several clients at once', async (t) => {
    t.diagnostic(`fast-check seed ${SEED}, ${RUNS} runs (replay: GOCM_FUZZ_SEED=${SEED} GOCM_FUZZ_RUNS=${RUNS})`);
    const clients = fc.array(fc.tuple(fc.array(line, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 })), { minLength: 1, maxLength: 3 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(clients, async (perClient) => {
        run++;
        const counts = await Promise.all(perClient.map(([lines, cuts], c) => exchange(setup, lines, cuts, `run ${run} client ${c}`)));
        accepted += counts.reduce((sum, count) => sum + count, 0);
      }),
      // No shrinking: a failure is reported with its seed and path at once, and replayed from them.
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    assert.equal(setup.daemon.child.exitCode, null, `the daemon is still running:\n${setup.daemon.output().slice(-2000)}`);
  });

  test('named attacks get the answer they deserve', async () => {
    const deep = (open: string, inner: string, close: string): string => nested(100_000, open, inner, close);
    const cases: Array<[string, string, string | 'ok']> = [
      ['100,000 [', '['.repeat(100_000), 'bad_json'],
      ['an array 100,000 deep', deep('[', '', ']'), 'bad_json'],
      ['an object 100,000 deep', deep('{"a":', '1', '}'), 'unknown_command'],
      ['cmd 100,000 deep', `{"cmd":${deep('[', '', ']')}}`, 'unknown_command'],
      ['a megabyte-ish cmd', `{"cmd":"${'c'.repeat(900_000)}"}`, 'unknown_command'],
      ['id 100,000 deep', `{"cmd":"ping","id":${deep('[', '', ']')}}`, 'bad_request'],
      ['payload 100,000 deep', `{"cmd":"send","tokens":["ok-d"],"payload":{"a":${deep('[', '', ']')}}}`, 'bad_request'],
      ['android 100,000 deep', `{"cmd":"send","tokens":["ok-d"],"android":${deep('{"a":', '1', '}')}}`, 'bad_request'],
      ['apns 100,000 deep', `{"cmd":"send","tokens":["ok-d"],"apns":{"x":${deep('[', '', ']')}}}`, 'bad_request'],
      ['webpush 100,000 deep', `{"cmd":"send","tokens":["ok-d"],"webpush":${deep('{"a":', '{}', '}')}}`, 'bad_request'],
      ['tokens 100,000 deep', `{"cmd":"send","tokens":${deep('[', '"ok"', ']')}}`, 'bad_request'],
      ['a payload 10 deep is fine', `{"cmd":"send","tokens":["ok-d10"],"payload":{"a":${nested(10, '[', '1', ']')}}}`, 'ok'],
      ['a byte-order mark', '\ufeff{"cmd":"ping","id":"bom"}', 'ok'],
      ['id 1e999', '{"cmd":"ping","id":1e999}', 'bad_request'],
      ['id of 400 nines', `{"cmd":"ping","id":${'9'.repeat(400)}}`, 'bad_request'],
      ['ttl 1e999', '{"cmd":"send","tokens":["ok-t"],"ttl":1e999}', 'bad_request'],
      ['ttl past 2^53', '{"cmd":"send","tokens":["ok-t"],"ttl":9007199254740993}', 'bad_request'],
      ['a huge id that is still a number', '{"cmd":"ping","id":123456789012345678901234567890}', 'ok'],
      ['__proto__ holding a cmd', '{"__proto__":{"cmd":"ping"}}', 'unknown_command'],
      ['__proto__ beside a cmd', '{"__proto__":{"cmd":"send"},"cmd":"ping","id":"p"}', 'ok'],
      ['cmd __proto__', '{"cmd":"__proto__"}', 'unknown_command'],
      ['cmd constructor', '{"cmd":"constructor"}', 'unknown_command'],
      ['cmd hasOwnProperty', '{"cmd":"hasOwnProperty"}', 'unknown_command'],
      ['__proto__ as a send field', '{"cmd":"send","tokens":["ok-1"],"__proto__":{"ttl":-1}}', 'bad_request'],
      ['__proto__ in notification', '{"cmd":"send","tokens":["ok-1"],"notification":{"__proto__":{"title":"x"}}}', 'bad_request'],
      ['__proto__ and constructor as tokens and payload keys', '{"cmd":"send","tokens":["__proto__","constructor"],"payload":{"__proto__":"x","constructor":{"prototype":1}}}', 'ok'],
      ['keep as __proto__', '{"cmd":"canonical","keep":"__proto__"}', 'bad_request'],
    ];
    const client = await setup.daemon.connect();
    try {
      for (const [name, text, expected] of cases) {
        client.write(text);
        const reply = wellFormed(await client.nextLine(), name);
        if (expected === 'ok') assert.equal(reply.ok, true, `${name}: ${JSON.stringify(reply)}`);
        else assert.equal(errorCode(reply), expected, `${name}: ${JSON.stringify(reply).slice(0, 300)}`);
        if (reply.ok && typeof reply.accepted === 'number') accepted += reply.accepted;
        assert.ok(JSON.stringify(reply).length < 2000, `${name}: the reply stays small`);
      }
    } finally {
      client.close();
    }
  });

  test('afterwards the daemon serves, nothing is left pending, and the counters add up', async () => {
    assert.deepEqual(await setup.daemon.request({ cmd: 'ping', id: 'still here' }), { ok: true, id: 'still here' });
    const report = await setup.daemon.settled();
    assert.equal(report.pending, 0);
    assertCountersMatch(report, accepted);
    assert.ok((setup.upstream.tokensSeen.get('__proto__') ?? 0) >= 1, 'a token named __proto__ was delivered like any other');
    const errors = setup.daemon.logs().filter((entry) => typeof entry.level === 'number' && entry.level >= 50);
    assert.deepEqual(errors, [], 'no error was logged');
    assert.equal(setup.daemon.child.exitCode, null);
  });
});
