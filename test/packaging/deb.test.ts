// The Debian package, built once: its name, control data and file list, the app running from
// an unpacked copy with only the packaged node_modules, and the maintainer scripts in a
// scratch root (dpkg --root), which must never reach for the host's systemd.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, exited, Lines, REPO, requireTools, run, scratch, stop } from './tools.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** What every installation needs, as dpkg-deb -c lists it. */
const EXPECTED = [
  './usr/bin/gocmd',
  './usr/bin/gocmctl',
  './usr/lib/gocm/package.json',
  './usr/lib/gocm/bin/gocmd.js',
  './usr/lib/gocm/bin/gocmctl.js',
  './usr/lib/gocm/dist/src/cli/gocmd.js',
  './usr/lib/gocm/dist/src/cli/gocmctl.js',
  './usr/lib/gocm/dist/src/systemd.js',
  './usr/lib/gocm/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
  './usr/lib/gocm/node_modules/systemd-notify/notify.js',
  './usr/lib/gocm/node_modules/undici/package.json',
  './usr/lib/gocm/node_modules/pino/package.json',
  './usr/lib/gocm/node_modules/yargs/package.json',
  './usr/lib/systemd/system/gocm.service',
  './usr/lib/systemd/system/gocm.socket',
  './usr/lib/sysusers.d/gocm.conf',
  './usr/lib/tmpfiles.d/gocm.conf',
  './etc/gocm/gocm.env',
  './usr/share/doc/gocm/README.md',
  './usr/share/doc/gocm/copyright',
];

/** Development-only things that must stay out. */
const FORBIDDEN = [/\/node_modules\/typescript\//, /\/node_modules\/eslint\//, /\/node_modules\/@types\//, /\/node_modules\/fast-check\//, /\/node_modules\/\.bin\//, /\/dist\/test\//, /^\.\/usr\/lib\/gocm\/dist\/.*\.map$/, /\/better-sqlite3\/deps\//];

describe('the Debian package', () => {
  const temp = scratch('deb');
  let deb = '';
  let listing: { mode: string; owner: string; path: string }[] = [];

  before(async () => {
    requireTools({ 'dpkg-deb': 'dpkg', dpkg: 'dpkg', 'systemd-sysusers': 'systemd', 'systemd-tmpfiles': 'systemd' });
    const built = await run('sh', [join(REPO, 'packaging', 'deb', 'build.sh'), join(temp.dir, 'out')]);
    assert.equal(built.code, 0, `build.sh failed:\n${built.stderr}`);
    deb = built.stdout.trim();
    const contents = await run('dpkg-deb', ['-c', deb]);
    assert.equal(contents.code, 0, contents.stderr);
    listing = contents.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [mode = '', owner = '', , , , ...rest] = line.split(/\s+/);
        return { mode, owner, path: rest.join(' ').replace(/ -> .*$/, '') };
      });
  });
  after(() => temp.remove());

  test('is named gocm_<version>_<arch>.deb and leaves nothing else behind', async () => {
    const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
    assert.equal(deb, join(temp.dir, 'out', `gocm_${VERSION}_${arch}.deb`));
    assert.deepEqual(readdirSync(join(temp.dir, 'out')), [`gocm_${VERSION}_${arch}.deb`]);
  });

  test('says what it is and what it needs', async () => {
    const field = async (name: string): Promise<string> => (await run('dpkg-deb', ['-f', deb, name])).stdout.trim();
    assert.equal(await field('Package'), 'gocm');
    assert.equal(await field('Version'), VERSION);
    assert.match(await field('Depends'), /systemd \| adduser/);
    assert.match(await field('Recommends'), /nodejs \(>= 20/);
    const control = (...tar: string[]) => run('sh', ['-c', 'deb=$1; shift; dpkg-deb --ctrl-tarfile "$deb" | tar "$@"', 'sh', deb, ...tar]);
    assert.equal((await control('-xOf', '-', './conffiles')).stdout.trim(), '/etc/gocm/gocm.env');
    const members = (await control('-tf', '-')).stdout.split('\n');
    for (const script of ['./postinst', './prerm', './postrm']) assert.ok(members.includes(script), `${script} is missing`);
  });

  test('holds the app, its production dependencies, the units and the settings, all root-owned', () => {
    const paths = new Set(listing.map((entry) => entry.path));
    for (const path of EXPECTED) assert.ok(paths.has(path), `${path} is missing`);
    for (const pattern of FORBIDDEN) {
      const found = listing.find((entry) => pattern.test(entry.path));
      assert.equal(found, undefined, `${found?.path} should not be packaged`);
    }
    assert.deepEqual([...new Set(listing.map((entry) => entry.owner))], ['root/root']);
    const mode = (path: string): string | undefined => listing.find((entry) => entry.path === path)?.mode;
    assert.equal(mode('./usr/bin/gocmd'), '-rwxr-xr-x');
    assert.equal(mode('./etc/gocm/gocm.env'), '-rw-r-----');
  });

  describe('unpacked', () => {
    const root = join(temp.dir, 'unpacked');
    // Only the package's own node_modules may serve: no NODE_PATH, and a root outside the checkout.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_PATH'));
    before(async () => {
      const unpacked = await run('dpkg-deb', ['-x', deb, root]);
      assert.equal(unpacked.code, 0, unpacked.stderr);
    });

    test('gocmd --help and gocmctl --help run', async () => {
      for (const cli of ['gocmd', 'gocmctl']) {
        const help = await run(join(root, 'usr', 'bin', cli), ['--help'], env);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, new RegExp(`^${cli}`));
      }
    });

    test('the packaged gocmd opens a SQLite spool and answers a ping', async () => {
      const socket = join(temp.dir, 'gocmd.sock');
      const args = ['--socket', socket, '--spool', join(temp.dir, 'spool.db'), '--provider', 'gcm', '--apikey', 'x', '--gcm-endpoint', 'http://127.0.0.1:9'];
      const daemon = spawn(join(root, 'usr', 'bin', 'gocmd'), args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Lines(daemon.stdout).find((line) => line.includes('"msg":"ready"'));
        assert.equal(await ask(socket, '{"cmd":"ping","id":7}'), '{"ok":true,"id":7}');
        daemon.kill('SIGTERM');
        assert.equal(await exited(daemon), 0);
      } finally {
        await stop(daemon);
      }
    });
  });

  test('installs and purges in a scratch root: user, /etc/gocm, spool gone on purge', async () => {
    const root = join(temp.dir, 'dpkg-root');
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'updates'), { recursive: true });
    mkdirSync(join(root, 'var', 'lib', 'dpkg', 'info'), { recursive: true });
    writeFileSync(join(root, 'var', 'lib', 'dpkg', 'status'), '');
    // Scripts run outside a chroot, with DPKG_ROOT set; the dependencies live on the host.
    const dpkg = (...args: string[]) => run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args]);
    const installed = await dpkg('-i', deb);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(readFileSync(join(root, 'etc', 'passwd'), 'utf8'), /^gocm:x:\d+:\d+:/m);
    const gid = /^gocm:x:(\d+):/m.exec(readFileSync(join(root, 'etc', 'group'), 'utf8'))?.[1];
    const etc = statSync(join(root, 'etc', 'gocm'));
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(String(etc.gid), gid);
    assert.ok(existsSync(join(root, 'usr', 'bin', 'gocmd')));

    mkdirSync(join(root, 'var', 'lib', 'gocm'));
    writeFileSync(join(root, 'var', 'lib', 'gocm', 'spool.db'), '');
    const purged = await dpkg('--purge', 'gocm');
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(existsSync(join(root, 'var', 'lib', 'gocm')), false, 'purge deletes the spool');
    assert.equal(existsSync(join(root, 'usr', 'lib', 'gocm')), false);
    assert.equal(existsSync(join(root, 'etc', 'gocm')), false);
  });
});
