// Addresses from the command line and from URLs: "HOST:PORT" parsed, and the
// loopback rule that keeps every listener (and an unencrypted connection)
// off the network unless --tcp-allow-remote is given.
import { ConfigError } from './errors.js';

export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

/** "HOST:PORT", "[::1]:PORT" → address; `flag` names the option in the error. */
export function parseTcp(value: string, flag = '--tcp'): TcpAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new ConfigError(`${flag}: "${value}" is not HOST:PORT (e.g. 127.0.0.1:7070 or [::1]:7070)`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/** `host` as a URL or flag gives it; brackets around an IPv6 address ([::1]) are allowed. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
