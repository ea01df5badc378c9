// Providers take their own options, not the daemon's Config: a provider can be
// built and tested without the flags, and a new flag cannot leak into one.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/daemon.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

test('no provider imports src/config.ts', () => {
  const files = sources(join(ROOT, 'src', 'providers'));
  assert.ok(files.length > 10, `found ${files.length} files`);
  const importers = files.filter((file) => /from '(\.\.\/)+config\.js'/.test(readFileSync(file, 'utf8')));
  assert.deepEqual(importers, []);
});
