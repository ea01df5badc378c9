// A bare node:http2 client for driving the fakes in their self-tests: one
// session trusting the fake's certificate, one request at a time per call.
import http2 from 'node:http2';
import { once } from 'node:events';
import { text } from 'node:stream/consumers';

export interface H2Response {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: string;
}

/** Resolves once the server's SETTINGS are in: streams sent earlier could pass its stream limit and be refused. */
export async function connectH2(url: string, ca: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, { ca });
  await Promise.race([once(session, 'remoteSettings'), once(session, 'error').then(([error]) => Promise.reject(error as Error))]);
  return session;
}

export async function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Response> {
  const stream = session.request({ ':method': 'POST', ...headers });
  // GET and HEAD streams are ended by node as they are opened.
  if (!stream.writableEnded) stream.end(body);
  const [responseHeaders] = (await Promise.race([
    once(stream, 'response'),
    // A stream the server drops may close without an error.
    once(stream, 'close').then(() => Promise.reject(new Error(`stream closed without a response (code ${stream.rstCode})`))),
  ])) as [http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader];
  return { status: responseHeaders[':status'] ?? 0, headers: responseHeaders, body: await text(stream) };
}
