// A push service that accepts connections and never answers: with
// --concurrency 1 a daemon keeps one request hanging there for the whole
// run, so that delivery costs nothing while sends are measured (ingest.ts,
// fleet.ts) or while a spool is filled for a later delivery run.
import { createServer, type Server, type Socket } from 'node:net';

export interface SilentUpstream {
  /** A legacy (gcm) send URL on it. */
  readonly url: string;
  readonly server: Server;
}

export async function startSilentUpstream(): Promise<SilentUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => sockets.forEach((socket) => socket.destroy()));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/fcm/send`, server };
}
