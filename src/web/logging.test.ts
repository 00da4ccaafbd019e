import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import Fastify from 'fastify';
import { loggerOptions, requestLogging } from './logging.ts';

async function app(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  const server = Fastify({
    logger: { ...(loggerOptions({ logLevel: level } as Parameters<typeof loggerOptions>[0]) as object), stream },
    genReqId: () => crypto.randomUUID(),
    ...requestLogging(),
  });
  server.get('/quiet', async () => 'ok');
  server.get('/chatty', async (request) => {
    request.log.info({ step: 1 }, 'working');
    return 'ok';
  });
  await server.ready();
  return { server, lines };
}

test('one access line per request, with its reqId, status and redacted URL; a route\'s own lines carry the reqId', async () => {
  const { server, lines } = await app('info');
  const quiet = await server.inject({ url: '/quiet?code=secret-code&x=1' });
  assert.equal(quiet.statusCode, 200);
  await server.inject({ url: '/chatty' });
  await server.close();

  const requestLines = lines.filter((line) => line.req !== undefined || line.res !== undefined);
  assert.equal(requestLines.length, 2, JSON.stringify(lines));
  const [first, second] = requestLines as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(first.msg, 'request completed');
  assert.match(String(first.reqId), /^[0-9a-f-]{36}$/);
  assert.deepEqual(first.res, { statusCode: 200 });
  assert.equal((first.req as { url: string }).url, '/quiet?code=[redacted]&x=1');
  assert.equal(typeof first.responseTime, 'number');
  const working = lines.find((line) => line.msg === 'working')!;
  assert.equal(working.reqId, second.reqId);
  assert.equal(working.step, 1);
});

test('below info, a request writes nothing and makes no child logger', async () => {
  const { server, lines } = await app('warn');
  let children = 0;
  const child = server.log.child.bind(server.log);
  server.log.child = (...args) => {
    children++;
    return child(...args);
  };
  await server.inject({ url: '/quiet' });
  await server.inject({ url: '/chatty' });
  await server.close();
  assert.deepEqual(lines.filter((line) => line.req !== undefined || line.msg === 'working'), []);
  assert.equal(children, 0);
});
