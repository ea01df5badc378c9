// GoCM's users, unchanged: gocmd started with GoCM's own flags, then driven
// by the curl command and the Python script of GoCM's README, byte for byte
// but for the port.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GOCMD, run, startDaemon, tempDir } from '../support/daemon.js';
import { startFakeGcm } from '../support/fake-gcm.js';
import { API_KEY } from '../support/gcm-daemon.js';
import { httpPort } from '../support/http-client.js';

const has = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const HAS_CURL = has('curl', ['--version']);
const HAS_PYTHON = has('python3', ['--version']);
const HAS_REQUESTS = HAS_PYTHON && has('python3', ['-c', 'import requests']);

const MESSAGE = { title: 'This is the title', subtitle: 'This is the subtitle', tickerText: 'This is the ticker text', datestamp: '2014-03-07T18:01:04.702100' };

/** GoCM's README example, its Python as written there (plus the `import json` it forgot). */
const REQUESTS_SCRIPT = (port: number, tokens: string[]): string => `import json
import requests

GCM_SEND_ENDPOINT = 'http://localhost:${port}/gcm/send'

token = "${tokens[0]}"
message = {
    'title': 'This is the title',
    'subtitle': 'This is the subtitle',
    'tickerText': 'This is the ticker text',
    'datestamp': '2014-03-07T18:01:04.702100'
}
data = {
    'tokens': [token, "${tokens[1]}"],
    'payload': json.dumps(message)
}

response = requests.post(GCM_SEND_ENDPOINT, data=data)
print(response.status_code, repr(response.text))
print(requests.get('http://localhost:${port}/gcm/report').json()['attempts'])
`;

/** The same with the standard library alone, for hosts without requests. */
const URLLIB_SCRIPT = (port: number, tokens: string[]): string => `import json
import urllib.parse, urllib.request

message = ${JSON.stringify(MESSAGE)}
body = urllib.parse.urlencode({'tokens': ${JSON.stringify(tokens)}, 'payload': json.dumps(message)}, doseq=True).encode()
with urllib.request.urlopen('http://localhost:${port}/gcm/send', data=body) as response:
    print(response.status, repr(response.read().decode()))
with urllib.request.urlopen('http://localhost:${port}/gcm/report') as response:
    print(json.load(response)['attempts'])
`;

describe("GoCM's users, unchanged", () => {
  /** gocmd started as a GoCM unit file would start GoCM, and the push service's view of what arrived. */
  async function startAsGocm(t: { after: (fn: () => Promise<void> | void) => void }, flags: string[]) {
    const received = new Map<string, unknown>();
    const upstream = await startFakeGcm({
      apiKey: API_KEY,
      onRequest: ({ body }) => {
        const { registration_ids: ids = [], data } = (body ?? {}) as { registration_ids?: string[]; data?: unknown };
        for (const token of ids) received.set(token, data);
      },
    });
    t.after(() => upstream.close());
    const daemon = await startDaemon({ args: [...flags, '--gcm-endpoint', upstream.url, '--max-backoff', '10ms'] });
    t.after(() => daemon.close());
    return { daemon, upstream, received, port: httpPort(daemon) };
  }

  test("GoCM's flags (-apikey, -ipaddress, -port) start a daemon that serves with that key", async (t) => {
    const { daemon, upstream, received, port } = await startAsGocm(t, ['-apikey', API_KEY, '-ipaddress', '127.0.0.1', '-port', '0']);
    const answer = await fetch(`http://127.0.0.1:${port}/gcm/send`, { method: 'POST', body: new URLSearchParams([['tokens', 'ok-flags'], ['payload', '{"a":"b"}']]) });
    assert.equal(await answer.text(), 'ok\n');
    await daemon.settled();
    assert.deepEqual(received.get('ok-flags'), { a: 'b' });
    assert.deepEqual([...upstream.apiKeysSeen], [API_KEY], '-apikey is the legacy key');
    assert.ok(!daemon.output().includes(API_KEY), 'the key is never logged');
  });

  test('-host and -port=, as Go also spells them', async (t) => {
    const { port } = await startAsGocm(t, [`-apikey=${API_KEY}`, '-host', 'localhost', '-port=0']);
    assert.equal((await fetch(`http://127.0.0.1:${port}/gcm/report`)).status, 200);
  });

  test("GoCM's default address, 0.0.0.0, is refused without --tcp-allow-remote: exit 2, one line", async () => {
    const dir = tempDir();
    try {
      const { code, stderr } = await run(process.execPath, [GOCMD, '-apikey', API_KEY, '-host', '0.0.0.0', '--socket', join(dir, 's.sock'), '--spool', ':memory:']);
      assert.equal(code, 2);
      assert.match(stderr, /^gocmd: -host: 0\.0\.0\.0 is not a loopback address.*--tcp-allow-remote is given\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the curl commands of GoCM's README", { skip: !HAS_CURL && 'curl is not installed' }, async (t) => {
    const { daemon, received, port } = await startAsGocm(t, ['-apikey', API_KEY, '-port', '0']);
    // As GoCM's README has it: the payload unencoded in the form, "localhost" (which may be ::1 first).
    const send = `curl -s -d "tokens=ok-curl-1&tokens=ok-curl-2&payload={\\"title\\": \\"This is the title\\", \\"subtitle\\": \\"This is the subtitle\\", \\"tickerText\\": \\"This is the ticker text\\", \\"datestamp\\": \\"2014-03-07T18:01:04.702100\\"}" localhost:${port}/gcm/send`;
    const sent = await run('sh', ['-c', send]);
    assert.equal(sent.stdout, 'ok\n', sent.stderr);
    await daemon.settled();
    assert.deepEqual(received.get('ok-curl-1'), MESSAGE);
    assert.deepEqual(received.get('ok-curl-2'), MESSAGE);
    const report = await run('sh', ['-c', `curl -s localhost:${port}/gcm/report`]);
    assert.deepEqual(Object.keys(JSON.parse(report.stdout)).slice(0, 5), ['attempts', 'failures', 'pending', 'canonicals', 'notregistered']);
    assert.equal((await run('sh', ['-c', `curl -s localhost:${port}/gcm/report/canonical`])).stdout, '{"canonical_replacements":[]}\n');
    assert.equal((await run('sh', ['-c', `curl -s localhost:${port}/gcm/report/notregistered`])).stdout, '{"tokens":[]}\n');
  });

  for (const [name, script, available] of [
    ['requests', REQUESTS_SCRIPT, HAS_REQUESTS],
    ['the standard library', URLLIB_SCRIPT, HAS_PYTHON],
  ] as const) {
    test(`a Python script with ${name}`, { skip: !available && `python3 ${name === 'requests' ? 'with requests ' : ''}is not installed` }, async (t) => {
      const { daemon, received, port } = await startAsGocm(t, ['-apikey', API_KEY, '-port', '0']);
      const tokens = [`ok-py-${name.length}-1`, `ok-py-${name.length}-2`];
      const file = join(daemon.dir, 'send.py');
      writeFileSync(file, script(port, tokens));
      const ran = await run('python3', [file]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout, "200 'ok\\n'\n2\n");
      await daemon.settled();
      for (const token of tokens) assert.deepEqual(received.get(token), MESSAGE, token);
    });
  }
});
