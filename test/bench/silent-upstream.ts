// An upstream that accepts connections and never answers: with --concurrency 1
// one request hangs there for the whole run, so that delivery costs nothing
// while acknowledgements are measured (see ingest.ts for why not a fake that
// answers, nor a closed port).
import { createServer, type Server, type Socket } from 'node:net';

export async function startSilentUpstream(): Promise<{ url: string; server: Server }> {
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
