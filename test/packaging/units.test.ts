// The systemd units and the sysusers.d/tmpfiles.d snippets, read by systemd's own tools:
// they parse cleanly, the sandbox scores, and they keep the promises the daemon relies on.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, parseDuration } from '../../src/config.js';
import { REPO, requireTools, run, scratch } from './tools.js';

const UNITS = join(REPO, 'packaging', 'systemd');
const read = (path: string): string => readFileSync(join(REPO, 'packaging', path), 'utf8');

/** Every value of every directive, in order; an empty assignment resets, as in systemd. */
function directives(text: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const equals = line.indexOf('=');
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    values.set(key, value === '' ? [] : [...(values.get(key) ?? []), value]);
  }
  return values;
}

/** Runs `systemd-analyze verify` on copies of the units, changed by `edit`. */
async function verify(dir: string, edit: (service: string) => string): Promise<string> {
  copyFileSync(join(UNITS, 'gocm.socket'), join(dir, 'gocm.socket'));
  // verify insists that ExecStart= names an executable, and /usr/bin/gocmd exists only once
  // the package is installed: the copy runs the checkout's launcher; the rest is as shipped.
  const service = readFileSync(join(UNITS, 'gocm.service'), 'utf8').replace(/^ExecStart=\/usr\/bin\/gocmd$/m, `ExecStart=${join(REPO, 'bin', 'gocmd.js')}`);
  writeFileSync(join(dir, 'gocm.service'), edit(service));
  const { code, stdout, stderr } = await run('systemd-analyze', ['verify', join(dir, 'gocm.socket'), join(dir, 'gocm.service')]);
  // verify exits 0 after many complaints (an unknown Type=, a bad directive): its words count.
  return `${code === 0 ? '' : `exit ${code}\n`}${stdout}${stderr}`.trim();
}

describe('gocm.service and gocm.socket', () => {
  const temp = scratch('units');
  before(() => requireTools({ 'systemd-analyze': 'systemd', 'systemd-sysusers': 'systemd', 'systemd-tmpfiles': 'systemd' }));
  after(() => temp.remove());

  test('systemd-analyze verify has nothing to say about them', async () => {
    assert.ok(statSync(join(REPO, 'bin', 'gocmd.js')).mode & 0o111, 'bin/gocmd.js must be executable');
    assert.equal(await verify(temp.dir, (service) => service), '');
  });

  test('a mistake in a unit does not get past that check', async () => {
    assert.match(await verify(temp.dir, (service) => service.replace('Type=notify', 'Type=notifyy')), /Type|service type/i);
  });

  test('the sandbox rates 2.0 or better in systemd-analyze security', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', join(UNITS, 'gocm.service')]);
    const exposure = /Overall exposure level for gocm\.service: (\d+\.\d+)/.exec(stdout);
    assert.ok(exposure, `no overall exposure in:\n${stdout}${stderr}`);
    assert.ok(Number(exposure[1]) <= 2.0, `exposure ${exposure[1]} is over 2.0:\n${stdout}`);
  });

  test('the service is what the daemon and the package expect', async () => {
    const service = directives(read('systemd/gocm.service'));
    const one = (key: string): string | undefined => service.get(key)?.at(-1);
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'all', 'systemd-notify runs as a child process');
    assert.equal(one('ExecStart'), '/usr/bin/gocmd');
    assert.match(one('Requires') ?? '', /\bgocm\.socket\b/);
    assert.match(one('After') ?? '', /\bgocm\.socket\b/);
    assert.equal(one('User'), 'gocm');
    assert.equal(one('StateDirectory'), 'gocm', 'the spool defaults to $STATE_DIRECTORY/spool.db');
    assert.deepEqual(service.get('LoadCredential'), ['fcm.json:/etc/gocm/fcm.json'], 'the daemon reads $CREDENTIALS_DIRECTORY/fcm.json');
    assert.equal(one('EnvironmentFile'), '-/etc/gocm/gocm.env');
    assert.equal(one('Restart'), 'on-failure');
    assert.match(one('RestartPreventExitStatus') ?? '', /\b2\b/, 'exit 2 is a configuration error');
    assert.equal(service.get('MemoryDenyWriteExecute'), undefined, "V8's JIT needs writable, executable memory");
    const config = await loadConfig(['--provider', 'gcm', '--apikey', 'x'], {});
    assert.ok(config);
    const stopMs = parseDuration('TimeoutStopSec', one('TimeoutStopSec'));
    assert.ok(stopMs > config.drainTimeoutMs, `TimeoutStopSec ${stopMs} ms must outlast the drain (${config.drainTimeoutMs} ms)`);
  });

  test('the socket is /run/gocm.sock for group gocm, TCP only in a comment', () => {
    const text = read('systemd/gocm.socket');
    const socket = directives(text);
    assert.deepEqual(socket.get('ListenStream'), ['/run/gocm.sock']);
    assert.equal(socket.get('SocketMode')?.at(-1), '0660');
    assert.equal(socket.get('SocketUser')?.at(-1), 'gocm');
    assert.equal(socket.get('SocketGroup')?.at(-1), 'gocm');
    assert.match(text, /^#\s*ListenStream=127\.0\.0\.1:\d+$/m);
  });

  test('sysusers.d and tmpfiles.d make the gocm user and a 0750 root:gocm /etc/gocm', async () => {
    const root = join(temp.dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    // --root keeps both tools inside the scratch root; "-" reads the snippet from stdin.
    for (const [tool, snippet] of [['systemd-sysusers', 'sysusers.d'], ['systemd-tmpfiles', 'tmpfiles.d']] as const) {
      const args = tool === 'systemd-tmpfiles' ? ['--create'] : [];
      const { code, stderr } = await run('sh', ['-c', `${tool} --root="$1" ${args.join(' ')} - < "$2"`, 'sh', root, join(REPO, 'packaging', snippet, 'gocm.conf')]);
      assert.equal(code, 0, stderr);
    }
    const passwd = readFileSync(join(root, 'etc', 'passwd'), 'utf8');
    const user = /^gocm:x:(\d+):(\d+):[^:]*:\/var\/lib\/gocm:(.*)$/m.exec(passwd);
    assert.ok(user, passwd);
    assert.match(user[3] ?? '', /nologin$/);
    const group = /^gocm:x:(\d+):/m.exec(readFileSync(join(root, 'etc', 'group'), 'utf8'));
    const etc = statSync(join(root, 'etc', 'gocm'));
    assert.ok(etc.isDirectory());
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.uid, 0);
    assert.equal(String(etc.gid), group?.[1]);
  });
});
