import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { hostParsedBody } from './host-parsed-body.ts';

function request(raw: Partial<IncomingMessage> & { body?: unknown }): FastifyRequest {
  return { raw, headers: raw.headers ?? {} } as unknown as FastifyRequest;
}

test('a stream nobody read yet is left to Fastify', async () => {
  const payload = Readable.from(['a=1']);
  assert.equal(await hostParsedBody(request({ readableEnded: false }), null, payload), payload);
});

test('a form the host parsed is encoded back, repeated fields included, with the size the client sent', async () => {
  const stream = await hostParsedBody(request({
    readableEnded: true,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': '42' },
    body: { _csrf: 'a+b/c', next: '/x?y=1', many: ['1', '2'], odd: 5 },
  }), null, Readable.from([]));
  assert.deepEqual([...new URLSearchParams(await text(stream))], [['_csrf', 'a+b/c'], ['next', '/x?y=1'], ['many', '1'], ['many', '2']]);
  assert.equal((stream as Readable & { receivedEncodedLength?: number }).receivedEncodedLength, 42);
});

test('JSON, text and raw bodies the host parsed go back as they came', async () => {
  const again = async (body: unknown, contentType: string) => text(await hostParsedBody(request({
    readableEnded: true, headers: { 'content-type': contentType }, body,
  }), null, Readable.from([])));
  assert.equal(await again({ a: [1] }, 'application/json'), '{"a":[1]}');
  assert.equal(await again('plain', 'text/plain'), 'plain');
  assert.equal(await again(Buffer.from('raw'), 'application/octet-stream'), 'raw');
  assert.equal(await again(undefined, 'application/x-www-form-urlencoded'), '');
});
