// `gocmctl vapid-keys`: a VAPID key pair for a webpush app, made here without
// the daemon. The private key goes into a new file only its owner can read, as
// `web-push generate-vapid-keys` prints it; the public key, which the web app
// subscribes with and the apps file names, goes to stdout.
import { writeFileSync } from 'node:fs';
import webpush from 'web-push';
import { errorCode } from '../guards.js';
import { complain, type CtlContext, EXIT } from './context.js';

export interface VapidKeysCommand {
  readonly name: 'vapid-keys';
  readonly privateKeyFile: string;
}

export function vapidKeys(command: VapidKeysCommand, context: CtlContext): number {
  const keys = webpush.generateVAPIDKeys();
  try {
    // wx: a key in use is never overwritten, or every browser's subscription would stop working.
    writeFileSync(command.privateKeyFile, `${keys.privateKey}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = errorCode(error);
    const why = code === 'EEXIST' ? 'it exists already (a key in use must not be replaced; remove it first to make a new one)' : `cannot write it (${code ?? 'error'})`;
    return complain(context, `--private-key-file ${command.privateKeyFile}: ${why}`, EXIT.usage);
  }
  const made = { vapid_public_key: keys.publicKey, vapid_private_key_file: command.privateKeyFile };
  context.stdout.write(
    context.json
      ? `${JSON.stringify(made)}\n`
      : `vapid_public_key: ${keys.publicKey}\nvapid_private_key_file: ${command.privateKeyFile} (written, mode 0600)\n` +
          'Give the public key to the web app (applicationServerKey) and both to the webpush app in gocmd\'s --apps file.\n',
  );
  return EXIT.ok;
}
