// The floor under the HTTP path's cost: a bare node:http server that reads
// each body whole and answers GoCM's "ok\n", nothing else. Run in its own
// process by http.ts, which drives it with wrk as it drives gocmd: the
// daemon's CPU per send over HTTP, less this one's per request, less its CPU
// per send over the socket, is what gocm's HTTP layer itself costs.
//
//   node dist/test/bench/bare-http.js   (prints its port, serves until killed)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 3 });
    response.end('ok\n');
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
