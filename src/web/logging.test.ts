import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
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
  return { server, lines };
}

test('one access line per request, with its reqId, status and redacted URL; a route\'s own lines carry the reqId', async () => {
  const { server, lines } = await app('info');
  await server.ready();
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
  await server.ready();
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

/** A route's `request.log`, handed out of the route: what a user's handler holds. */
async function routeLogger(level: string) {
  const made = await app(level);
  let children = 0;
  (made.server.log as unknown as Logger).onChild = () => children++; // pino calls it for every child made
  let log: FastifyBaseLogger | undefined;
  made.server.get('/hand-out', async (request) => {
    log = request.log;
    return 'ok';
  });
  await made.server.ready();
  await made.server.inject({ url: '/hand-out' });
  return { ...made, log: log as FastifyBaseLogger & Logger, children: () => children, reqId: () => made.lines.find((line) => line.msg === 'request completed')!.reqId };
}

test('request.log has every member of pino\'s Logger, of the same kind as on pino\'s own child', async () => {
  const { server, log } = await routeLogger('info');
  const pinos = server.log.child({ reqId: 'x' }) as unknown as Logger;
  const members = new Set<string>();
  for (let o: object | null = pinos; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) if (!name.startsWith('_') && name !== 'constructor') members.add(name);
  }
  assert.ok(members.size >= 30, [...members].join(', '));
  const differ = [...members].filter((name) => typeof (log as unknown as Record<string, unknown>)[name] !== typeof (pinos as unknown as Record<string, unknown>)[name]);
  assert.deepEqual(differ, [], 'members of another kind, or missing');
  await server.close();
});

test('what only reads answers as pino\'s child would, and makes no child logger', async () => {
  const { server, log, children } = await routeLogger('info');
  const made = children();
  assert.equal(made, 0, 'the request made no child');
  const pinos = server.log.child({ reqId: 'x' }) as unknown as Logger;
  const after = children();
  assert.equal(log.isLevelEnabled('info'), true);
  assert.equal(log.isLevelEnabled('debug'), false);
  assert.deepEqual([log.level, log.levelVal, log.msgPrefix, log.version], [pinos.level, pinos.levelVal, pinos.msgPrefix, pinos.version]);
  assert.deepEqual(log.levels, pinos.levels);
  await new Promise<void>((resolve, reject) => log.flush((error) => (error ? reject(error) : resolve())));
  assert.equal(after, made + 1, 'pino counts the child made here for comparison');
  assert.equal(children(), after, 'request.log made none');
  await server.close();
});

test('bindings, setBindings, a level of its own, child loggers and level-change listeners act on this request only', async () => {
  const { server, lines, log, reqId } = await routeLogger('info');
  const id = reqId();
  assert.deepEqual(log.bindings(), (server.log.child({ reqId: id }) as unknown as Logger).bindings());
  log.setBindings({ user: 'alice' });
  log.info('with user');
  assert.deepEqual(pick(lines.find((line) => line.msg === 'with user')!, ['reqId', 'user']), { reqId: id, user: 'alice' });

  const changes: string[] = [];
  log.on('level-change', (level: string) => changes.push(level));
  log.level = 'debug';
  log.debug('debug for this request');
  server.log.debug('debug for the server');
  assert.deepEqual(changes, ['debug']);
  assert.equal(server.log.level, 'info');
  assert.ok(lines.some((line) => line.msg === 'debug for this request'));
  assert.ok(!lines.some((line) => line.msg === 'debug for the server'));

  log.child({ step: 'payment' }).warn('from a child');
  assert.deepEqual(pick(lines.find((line) => line.msg === 'from a child')!, ['reqId', 'user', 'step']), { reqId: id, user: 'alice', step: 'payment' });
  await server.close();
});

function pick(line: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, line[key]]));
}

test('a server logger with levels of its own gives each request pino\'s child, so request.log has those levels too', async () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const server = Fastify({ logger: { level: 'info', customLevels: { audit: 35 }, stream }, ...requestLogging() });
  server.get('/audited', async (request) => {
    (request.log as unknown as Logger<'audit'>).audit('audited');
    return 'ok';
  });
  await server.inject({ url: '/audited' });
  await server.close();
  assert.deepEqual(pick(lines.find((line) => line.msg === 'audited')!, ['level', 'reqId']), { level: 35, reqId: 'req-1' });
});
