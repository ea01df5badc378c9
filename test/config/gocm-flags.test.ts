// GoCM's command line read as GoCM read it (Go's flag package), with gocm's
// loopback default: which flags turn the HTTP API on, where it listens, and
// what is refused with a clear line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Config, loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

async function config(argv: readonly string[]): Promise<Config> {
  const loaded = await loadConfig(argv, {});
  assert.ok(loaded);
  return loaded;
}

describe("GoCM's flags", () => {
  const cases: Array<[string, string[], Config['http']]> = [
    ['-apikey alone: GoCM\'s port, on loopback', ['-apikey', 'K'], { host: '127.0.0.1', port: 5601 }],
    ['-apikey=K -port 8080', ['-apikey=K', '-port', '8080'], { host: '127.0.0.1', port: 8080 }],
    ['-host and -port, two dashes as Go allows', ['--host', '127.0.0.2', '--port=0', '-apikey', 'K'], { host: '127.0.0.2', port: 0 }],
    ["-ipaddress, as GoCM's README says", ['-apikey', 'K', '-ipaddress', '::1'], { host: '::1', port: 5601 }],
    ['-port with gocm\'s --apikey', ['--apikey', 'K', '-port', '7000'], { host: '127.0.0.1', port: 7000 }],
    ["--apikey is gocm's own flag: no HTTP", ['--apikey', 'K'], undefined],
    ['--http', ['--apikey', 'K', '--http', '[::1]:7001'], { host: '::1', port: 7001 }],
    ['a non-loopback -host with --tcp-allow-remote', ['-apikey', 'K', '-host', '0.0.0.0', '--tcp-allow-remote'], { host: '0.0.0.0', port: 5601 }],
  ];
  for (const [name, argv, http] of cases) {
    test(name, async () => {
      const loaded = await config(argv);
      assert.deepEqual(loaded.http, http);
      const [app] = loaded.apps.apps;
      assert.equal(app?.provider, 'gcm', 'a key alone means the legacy protocol, as GoCM spoke');
      assert.equal(app?.provider === 'gcm' ? app.apiKey : undefined, 'K');
    });
  }

  test('--http-timeout', async () => {
    assert.equal((await config(['--apikey', 'K', '--http-timeout', '250ms'])).httpTimeoutMs, 250);
    assert.equal((await config(['--apikey', 'K'])).httpTimeoutMs, 10_000);
  });

  const refusals: Array<[string, string[], RegExp]> = [
    ['a non-loopback -host', ['-apikey', 'K', '-host', '0.0.0.0'], /^-host: 0\.0\.0\.0 is not a loopback address; GoCM listened on every address.*--tcp-allow-remote/],
    ["Go's empty host (every address)", ['-apikey', 'K', '-host', ''], /^-host: 0\.0\.0\.0 is not a loopback/],
    ['a non-loopback --http', ['--apikey', 'K', '--http', '192.0.2.1:80'], /^--http: 192\.0\.2\.1 is not a loopback address/],
    ['--http that is no address', ['--apikey', 'K', '--http', '5601'], /^--http: "5601" is not HOST:PORT/],
    ['-port that is no port', ['-apikey', 'K', '-port', 'http'], /^-port: "http" is not a TCP port/],
    ['-port past 65535', ['-apikey', 'K', '-port', '70000'], /^-port: "70000"/],
    ['-apikey without its value', ['-apikey'], /^-apikey needs a value/],
    ['-port and --http both', ['-apikey', 'K', '-port', '1', '--http', '127.0.0.1:2'], /give one of them/],
    ['-logto', ['-apikey', 'K', '-logto', '/var/log/gocm.log'], /^-logto: gocmd logs JSON lines to stdout/],
  ];
  for (const [name, argv, message] of refusals) {
    test(`refused: ${name}`, async () => {
      await assert.rejects(loadConfig(argv, {}), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\bK\b/, 'the key is never in an error');
        return true;
      });
    });
  }
});
