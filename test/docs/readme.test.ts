// The README's tables are the operator's reference: they must say what the
// code does. Its error table lists exactly the wire codes of src/errors.ts, and
// its flag table exactly the options of src/config.ts, with their defaults,
// and GoCM's one-dash flags of src/gocm-flags.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { OPTIONS } from '../../src/config.js';
import { ERROR_CODES } from '../../src/errors.js';
import { GOCM_FLAGS } from '../../src/gocm-flags.js';
import { ROOT } from '../support/daemon.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The rows of the first table whose header row starts with `firstColumn`, as cells without their pipes. */
function table(firstColumn: string): string[][] {
  const lines = README.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`| ${firstColumn} |`));
  assert.ok(start >= 0, `README has a table headed "${firstColumn}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    // Split on pipes that are not escaped (`normal\|full`).
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows;
}

describe('the README', () => {
  test("error table: exactly the wire codes, each described", () => {
    const rows = table('code');
    const documented = rows.map(([code]) => /^`([a-z_]+)`$/.exec(code ?? '')?.[1]);
    assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of rows) assert.ok((meaning ?? '').length > 10, `${code} is described`);
  });

  test('flag table: exactly the options of the option table, with their defaults, and GoCM\'s flags', () => {
    const all = table('flag');
    const gocm = all.filter(([flag]) => /^`-[a-z]/.test(flag ?? ''));
    assert.deepEqual(gocm.map(([flag]) => flag), GOCM_FLAGS.map((flag) => `\`${flag}\``));
    for (const [flag, , meaning] of gocm) assert.ok((meaning ?? '').length > 10, `${flag} is described`);
    const rows = all.filter((row) => !gocm.includes(row));
    const flags = new Map(rows.map(([flag, fallback]) => [/^`--([a-z-]+)/.exec(flag ?? '')?.[1] ?? flag, fallback ?? '']));
    assert.deepEqual([...flags.keys()].sort(), [...Object.keys(OPTIONS), 'config'].sort());
    for (const [name, option] of Object.entries(OPTIONS)) {
      if (!('default' in option)) continue;
      const shown = flags.get(name) ?? '';
      const expected = option.default === false ? 'off' : String(option.default);
      assert.ok(shown === expected || shown.startsWith(`\`${expected}\``) || shown.startsWith(`${expected} `), `--${name}: the README says "${shown}", the code ${expected}`);
    }
  });
});
