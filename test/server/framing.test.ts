// Line framing: split2's splitting plus our marker where an over-long line was skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Frame, LINE_TOO_LONG, lineSplitter } from '../../src/server/framing.js';

async function frames(maxLineBytes: number, chunks: Array<string | Buffer>): Promise<Array<string | 'TOO_LONG'>> {
  const splitter = lineSplitter(maxLineBytes);
  const out: Array<string | 'TOO_LONG'> = [];
  splitter.on('data', (frame: Frame) => out.push(frame === LINE_TOO_LONG ? 'TOO_LONG' : (frame as string)));
  const ended = new Promise((resolve) => splitter.on('end', resolve));
  for (const chunk of chunks) splitter.write(chunk);
  splitter.end();
  await ended;
  return out;
}

test('lines split on \\n and \\r\\n, across chunks', async () => {
  assert.deepEqual(await frames(100, ['a\nb', 'c\r', '\nd\n']), ['a', 'bc', 'd']);
});

test('a last line without a newline is still a line', async () => {
  assert.deepEqual(await frames(100, ['a\nb']), ['a', 'b']);
});

test('an over-long line within one chunk becomes one marker, neighbours intact', async () => {
  assert.deepEqual(await frames(10, ['short\n' + 'x'.repeat(50) + '\nnext\n']), ['short', 'TOO_LONG', 'next']);
});

test('an over-long line spread over many chunks becomes one marker, in its place', async () => {
  const chunks = ['first\n', 'y'.repeat(8), 'y'.repeat(8), 'y'.repeat(8), 'y'.repeat(8), 'tail\nafter\n'];
  assert.deepEqual(await frames(10, chunks), ['first', 'TOO_LONG', 'after']);
});

test('two over-long lines in a row each get a marker', async () => {
  const chunks = ['z'.repeat(30), 'z\n' + 'w'.repeat(30), 'w\nok\n'];
  assert.deepEqual(await frames(10, chunks), ['TOO_LONG', 'TOO_LONG', 'ok']);
});

test('an over-long last line without a newline gets exactly one marker', async () => {
  assert.deepEqual(await frames(10, ['ok\n', 'v'.repeat(30), 'v'.repeat(30)]), ['ok', 'TOO_LONG']);
});

test('the limit counts bytes, not characters', async () => {
  const euro = '€'.repeat(4); // 12 bytes, 4 characters
  assert.deepEqual(await frames(10, [euro + '\n' + '€€€\n']), ['TOO_LONG', '€€€']);
});

test('a multi-byte character split across chunks survives', async () => {
  const bytes = Buffer.from('é\n');
  assert.deepEqual(await frames(10, [bytes.subarray(0, 1), bytes.subarray(1)]), ['é']);
});
