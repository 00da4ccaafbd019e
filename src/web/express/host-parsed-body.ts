import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';

type ParsedRequest = IncomingMessage & { body?: unknown };

/**
 * A preParsing hook for our routes under Express. An app that parses bodies before mounting us
 * (`app.use(express.urlencoded())` first) has read the request stream of our forms already, and
 * Fastify would wait for a body that never comes. It gets the body the host parsed instead,
 * encoded back the way it came; the byte count stays what the client sent, for the body limit.
 */
export async function hostParsedBody(request: FastifyRequest, _reply: unknown, payload: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> {
  const raw = request.raw as ParsedRequest;
  if (!raw.readableEnded) return payload;
  const stream: Readable & { receivedEncodedLength?: number } = Readable.from([encode(raw.body, request.headers['content-type'] ?? '')]);
  stream.receivedEncodedLength = Number(request.headers['content-length'] ?? 0);
  return stream;
}

function encode(body: unknown, contentType: string): string | Buffer {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body === null || typeof body !== 'object') return '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(contentType)) return JSON.stringify(body);
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === 'string') form.append(name, item);
    }
  }
  return form.toString();
}
