import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface Recorded {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The target's answer: its status and headers, once it came. */
  status?: number;
  answerHeaders?: IncomingHttpHeaders;
}

export interface RecordingProxy {
  /** http://127.0.0.1:<port>: the same paths as the target. */
  url: string;
  /** Every request passed on, in order. */
  requests: Recorded[];
  close(): Promise<void>;
}

/**
 * A reverse proxy on 127.0.0.1 (ephemeral port) that passes every request to `target` unchanged
 * and keeps a copy of it: what a client really sent (a client assertion, a DPoP proof) can then be
 * replayed by a test, as an attacker on the path would.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: Recorded = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: body.toString('utf8') };
      requests.push(recorded);
      const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
        recorded.status = answer.statusCode;
        recorded.answerHeaders = answer.headers;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
