// Reading tokens for `gocmctl send`: one a line from a file or a stream, cut into chunks.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { InputFileError, openInput } from '../../src/client/input.js';
import { chunks, countTokens, MAX_CHUNK_TOKENS, tokenLines } from '../../src/client/tokens.js';
import { tempDir } from '../support/daemon.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('chunks', () => {
  test(`at most ${MAX_CHUNK_TOKENS} tokens a chunk, in order`, async () => {
    const tokens = Array.from({ length: 2500 }, (_, i) => `t${i}`);
    const cut = await collect(chunks(tokens));
    assert.deepEqual(
      cut.map((chunk) => chunk.length),
      [1000, 1000, 500],
    );
    assert.deepEqual(cut.flat(), tokens);
  });

  test('a chunk also ends when its tokens reach the byte bound', async () => {
    const cut = await collect(chunks(['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)], 1000, 80));
    assert.deepEqual(
      cut.map((chunk) => chunk.length),
      [2, 1],
    );
  });

  test('no tokens, no chunks', async () => {
    assert.deepEqual(await collect(chunks([])), []);
  });
});

describe('tokenLines', () => {
  test('trims each line and skips blank ones, \\r\\n included', async () => {
    const input = Readable.from(['  a \n\n', 'b\r\n\t\n c', 'd\n']);
    assert.deepEqual(await collect(tokenLines(input, 'test')), ['a', 'b', 'cd']);
  });

  test('a read error is a InputFileError naming the source', async () => {
    const input = new Readable({
      read() {
        this.destroy(Object.assign(new Error('boom'), { code: 'EIO' }));
      },
    });
    await assert.rejects(collect(tokenLines(input, 'some.txt')), (error: unknown) => {
      assert.ok(error instanceof InputFileError);
      assert.match(error.message, /some\.txt: EIO/);
      return true;
    });
  });
});

describe('openInput', () => {
  const dir = tempDir('gocmctl-tokens-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a file: read (and counted) as often as asked', async () => {
    const path = join(dir, 'tokens.txt');
    writeFileSync(path, 'x\n\ny\nz');
    const source = await openInput('--tokens-file', path, Readable.from([]));
    assert.equal(source.rereadable, true);
    assert.equal(await countTokens(source), 3);
    assert.deepEqual(await collect(tokenLines(source.open(), source.name)), ['x', 'y', 'z']);
  });

  test('- is stdin, which cannot be read twice', async () => {
    const source = await openInput('--tokens-file', '-', Readable.from(['s1\ns2\n']));
    assert.equal(source.name, 'stdin');
    assert.equal(source.rereadable, false);
    assert.deepEqual(await collect(tokenLines(source.open(), source.name)), ['s1', 's2']);
  });

  test('a missing file or a directory is refused before anything is read', async () => {
    await assert.rejects(openInput('--tokens-file', join(dir, 'none'), Readable.from([])), /--tokens-file: cannot read .*none: ENOENT/);
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    await assert.rejects(openInput('--tokens-file', sub, Readable.from([])), (error: unknown) => error instanceof InputFileError && /is a directory/.test(error.message));
  });
});
