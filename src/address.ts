// TCP addresses from the command line: "HOST:PORT" parsed, and the loopback
// rule that keeps every listener local unless --tcp-allow-remote is given.
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

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
