// The fake as a standalone process, as demos and benchmarks run it: one JSON
// line to start from, a working token endpoint and messages:send, a clean SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createInterface } from 'node:readline';
import { createLogger } from '../../../src/log.js';
import { createFcmProvider } from '../../../src/providers/fcm/index.js';
import { fcmOptions, message } from './setup.js';

const FAKE = fileURLToPath(new URL('../../support/fake-fcm.js', import.meta.url));

test('standalone fake: prints where it is, serves the provider, stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [FAKE, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; tokenUri: string; credentials: string; caFile?: string };
    assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(started.tokenUri, `${started.url}/token`);
    assert.equal(started.caFile, undefined);

    const refused = await fetch(started.tokenUri, { method: 'POST', body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'a.b.c' }) });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_grant');

    const provider = createFcmProvider(fcmOptions({ credentials: started.credentials, endpoint: started.url }), createLogger('silent'));
    assert.deepEqual(await provider.send(message('m'), ['ok-standalone']), [{ kind: 'delivered' }]);
    await provider.close();

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    assert.equal(existsSync(started.credentials), false, 'its temporary files are gone');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
