// gocmd: parse the arguments, start the daemon, reload its apps on SIGHUP, stop it on SIGTERM/SIGINT.
// Exit 0 on a clean stop, 2 on a usage or configuration error, 1 otherwise.
import { loadConfig } from '../config.js';
import { Daemon } from '../daemon.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';

function fail(error: unknown): never {
  // One line, no stack: the operator needs the reason, not our call graph.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`gocmd: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}

async function main(): Promise<void> {
  const config = await loadConfig(process.argv.slice(2), process.env);
  if (!config) return; // --help was printed
  const log = createLogger(config.logLevel);
  const started = Daemon.start(config, log);
  // Handlers go in before the daemon can say "ready" (start has not yet passed
  // its first await): a signal during start waits for it, then stops cleanly.
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'signal received');
    void started
      .then((daemon) => daemon.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          if (error instanceof ConfigError) fail(error);
          log.error({ err: error }, 'stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP re-reads --apps; its outcome is logged, and a bad file changes nothing.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'signal received');
    void started.then((daemon) => daemon.reload()).catch(() => undefined);
  });
  await started;
}

main().catch(fail);
