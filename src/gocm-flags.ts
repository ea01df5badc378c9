// GoCM's own command line, so that a unit file that started GoCM starts
// gocmd: `-apikey KEY`, `-host ADDR` (its README says `-ipaddress`), `-port
// PORT`, spelled as Go's flag package takes them (one dash or two, the value
// next or after `=`). yargs would read `-apikey` as the bundle -a -p -i -k -e
// -y, so these are taken out of the arguments before yargs sees them.
import { isLoopback, type TcpAddress } from './addresses.js';
import { ConfigError } from './errors.js';

/** GoCM's defaults, but loopback instead of its 0.0.0.0. */
export const GOCM_HOST = '127.0.0.1';
export const GOCM_PORT = 5601;

/** GoCM's flags as the README's flag table shows them, one row each. */
export const GOCM_FLAGS = ['-apikey KEY', '-host ADDR', '-ipaddress ADDR', '-port PORT'] as const;

export interface GocmFlags {
  /** The arguments left for yargs (`-apikey KEY` became `--apikey KEY`). */
  readonly argv: string[];
  /** Where GoCM's HTTP API listens; undefined when no GoCM flag was given. */
  readonly http: TcpAddress | undefined;
}

// `--apikey` is also gocm's own flag (the key, nothing more): only one dash says "GoCM".
const GOCM_FLAG = /^(-{1,2})(apikey|host|ipaddress|port|logto)(?:=([\s\S]*))?$/;

/** Take GoCM's flags out of `argv`. Throws ConfigError for a flag without its value or a bad port. */
export function takeGocmFlags(argv: readonly string[]): GocmFlags {
  const rest: string[] = [];
  let gocm = false;
  let host: string | undefined;
  let port: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const match = GOCM_FLAG.exec(arg);
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (!match || (match[2] === 'apikey' && match[1] === '--')) {
      rest.push(arg);
      continue;
    }
    const name = match[2] as string;
    // Go's flag package: a flag that takes a value takes the next argument, whatever it looks like.
    const value = match[3] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`-${name} needs a value (GoCM's flag: -${name} ${name === 'port' ? 'PORT' : 'VALUE'})`);
    gocm = true;
    if (name === 'apikey') rest.push('--apikey', value);
    else if (name === 'port') port = portOf(value);
    else if (name === 'logto') throw new ConfigError('-logto: gocmd logs JSON lines to stdout; redirect it instead (in a unit file: StandardOutput=append:PATH)');
    // Go listens on every address for an empty host (":5601").
    else host = value === '' ? '0.0.0.0' : value;
  }
  if (rest.some((arg) => /^--http(=|$)/.test(arg)) && (host !== undefined || port !== undefined)) {
    throw new ConfigError('--http and GoCM\'s -host/-port both say where the HTTP API listens: give one of them');
  }
  return { argv: rest, http: gocm ? { host: host ?? GOCM_HOST, port: port ?? GOCM_PORT } : undefined };
}

function portOf(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) throw new ConfigError(`-port: "${value}" is not a TCP port (0 to 65535)`);
  return port;
}

/** The loopback rule of --tcp, said in GoCM's terms for its -host. */
export function checkGocmHost(address: TcpAddress, allowRemote: boolean): void {
  if (isLoopback(address.host) || allowRemote) return;
  throw new ConfigError(`-host: ${address.host} is not a loopback address; GoCM listened on every address, gocm only on loopback unless --tcp-allow-remote is given`);
}
