// `npm run demo`: the whole flow without a Google project. A fake FCM v1 server
// (HTTPS, HTTP/2, a generated service account), a real gocmd, and gocmctl
// sending a mixed batch; every command and its output is printed.
import { GOCMCTL, run } from './daemon.js';
import { startFcmDaemon } from './fcm-daemon.js';

const TOKENS = ['ok-phone-1', 'ok-phone-2', 'ok-tablet-1', 'gone-old-phone', 'flaky1-train-wifi', 'invalid-typo', 'mismatch-other-project'];

async function gocmctl(socket: string, args: readonly string[]): Promise<void> {
  process.stdout.write(`$ gocmctl ${args.map((arg) => (/[\s{"]/.test(arg) ? `'${arg}'` : arg)).join(' ')}\n`);
  const result = await run(process.execPath, [GOCMCTL, '--socket', socket, ...args], { env: { ...process.env, GOCM_SOCKET: socket } });
  process.stdout.write(result.stdout + result.stderr + (result.code === 0 ? '' : `(exit ${result.code})\n`) + '\n');
}

async function main(): Promise<void> {
  process.stdout.write('Starting a fake FCM v1 server (HTTPS + HTTP/2) and gocmd against it…\n');
  const setup = await startFcmDaemon({ latencyMs: 150, args: ['--max-backoff', '500ms'] });
  const socket = setup.daemon.socket;
  try {
    process.stdout.write(`gocmd is listening on ${socket}, delivering to ${setup.upstream.url}\n\n`);
    await gocmctl(socket, ['ping', '--json']);
    await gocmctl(socket, ['send', ...TOKENS.flatMap((token) => ['--token', token]), '--payload', '{"title":"Hello from gocm","n":3}', '--json']);
    await gocmctl(socket, ['queue', '--json']);
    process.stdout.write('(waiting for the batch to settle: retries back off, then every token is final)\n\n');
    await setup.daemon.settled();
    await gocmctl(socket, ['report', '--json']);
    await gocmctl(socket, ['notregistered', '--json']);
    await gocmctl(socket, ['canonical', '--json']);
    const stopped = await setup.daemon.stop('SIGTERM');
    process.stdout.write(`gocmd stopped with exit code ${stopped.code}. Its log (JSON lines) said:\n`);
    for (const line of setup.daemon.logs()) process.stdout.write(`  ${String(line.msg)}${line.reasons ? ' ' + JSON.stringify(line.reasons) : ''}\n`);
  } finally {
    await setup.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${(error as Error).message}\n`);
  process.exit(1);
});
