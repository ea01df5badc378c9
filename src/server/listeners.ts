// Opening the listening sockets: a Unix socket created with its mode from the
// first instant, a loopback TCP port, or sockets inherited from systemd.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { type AddressInfo, createConnection, type Server } from 'node:net';
import { ConfigError } from '../errors.js';
import type { TcpAddress } from '../config.js';
import { errorCode } from '../guards.js';

/**
 * Connections the kernel may queue before we accept them (capped by
 * net.core.somaxconn). Node's 511 is short for a burst of local clients: a
 * Unix socket connect past it fails at once with EAGAIN, it does not wait.
 */
const BACKLOG = 4096;

function listening(server: Server, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    listen();
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Is a daemon answering on this socket path? A refused connection means a stale file. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ConfigError(`--socket: ${path} exists and is not a socket; not replacing it`);
  if (await isLive(path)) throw new ConfigError(`--socket: another daemon is already listening on ${path}`);
  unlinkSync(path);
}

/**
 * Listen on a Unix socket. The umask is narrowed around bind(2) so the file is
 * born with `mode`: there is no moment in which a wider mode lets anyone connect.
 */
export async function listenUnix(server: Server, path: string, mode: number): Promise<void> {
  await clearStaleSocket(path);
  const previous = process.umask(~mode & 0o777);
  try {
    await listening(server, () => server.listen({ path, backlog: BACKLOG }));
  } catch (error) {
    const code = errorCode(error) ?? 'error';
    throw new ConfigError(`--socket: cannot listen on ${path}: ${code}`);
  } finally {
    process.umask(previous);
  }
  chmodSync(path, mode);
}

/** Listen on TCP; resolves with the address bound ("HOST:PORT", the real port when 0 was asked). `flag` names the option in errors. */
export async function listenTcp(server: Server, address: TcpAddress, flag = 'tcp'): Promise<string> {
  try {
    await listening(server, () => server.listen({ port: address.port, host: address.host, backlog: BACKLOG }));
  } catch (error) {
    const code = errorCode(error) ?? 'error';
    throw new ConfigError(`--${flag}: cannot listen on ${address.host}:${address.port}: ${code}`);
  }
  const bound = server.address() as AddressInfo;
  return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}

/** A socket handed over by systemd (socket activation). */
export function listenFd(server: Server, fd: number): Promise<void> {
  return listening(server, () => server.listen({ fd }));
}
