import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_ANSWER_BYTES, providerFetch } from './http.ts';

let base = '';
let connections = 0;
const seen: Array<{ method: string; url: string; type: string | undefined; body: string }> = [];
/** 'request' with the path, once the server has read a request whole. */
const arrivals = new EventEmitter();
const server = createServer(async (req: IncomingMessage, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body });
  arrivals.emit('request', req.url);
  if (req.url === '/moved') return res.writeHead(302, { location: '/elsewhere' }).end();
  if (req.url === '/empty') return res.writeHead(204).end();
  if (req.url === '/slow') return setTimeout(() => res.writeHead(200).end('late'), 2000).unref();
  if (req.url === '/endless') {
    // A provider that never stops sending: chunks of 64 KiB until the client goes away.
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const send = () => { while (!res.destroyed && res.write(chunk)); };
    res.on('drain', send);
    return send();
  }
  if (req.url === '/bom') return res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"é":1}')]));
  res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] }).end(JSON.stringify({ ok: true }));
});
server.on('connection', () => connections++);

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('answers as fetch would, with every header, and sends form bodies as text', async () => {
  const answer = await providerFetch(`${base}/token?x=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'a b' }),
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { ok: true });
  assert.equal(answer.headers.get('content-type'), 'application/json');
  assert.deepEqual(answer.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.deepEqual(seen.at(-1), { method: 'POST', url: '/token?x=1', type: 'application/x-www-form-urlencoded;charset=UTF-8', body: 'grant_type=authorization_code&code=a+b' });
});

test('does not follow redirects, and a 204 has no body', async () => {
  const moved = await providerFetch(`${base}/moved`);
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.get('location'), '/elsewhere');
  assert.equal((await providerFetch(`${base}/empty`)).status, 204);
});

test('keeps the connection alive between requests', async () => {
  const before = connections;
  for (let i = 0; i < 5; i++) await (await providerFetch(`${base}/n${i}`)).text();
  assert.ok(connections - before <= 1, `${connections - before} connections for 5 requests in a row`);
});

test('an aborted request rejects', async () => {
  await assert.rejects(providerFetch(`${base}/x`, { signal: AbortSignal.abort() }));
});

test('a request past timeoutMs fails as AbortSignal.timeout would, with a TimeoutError', async () => {
  // /slow answers after 2 s: a TimeoutError, not that answer, shows the 100 ms bound stopped it.
  await assert.rejects(providerFetch(`${base}/slow`, { timeoutMs: 100 }), { name: 'TimeoutError' });
  assert.equal((await providerFetch(`${base}/n`, { timeoutMs: 5000 })).status, 200);
});

test('the answer is a plain Response: read once, decoded as UTF-8 without its BOM, cloned before it is read', async () => {
  const answer = await providerFetch(`${base}/bom`);
  assert.equal(Object.getPrototypeOf(answer), Response.prototype);
  assert.equal(answer.statusText, 'OK');
  assert.equal(answer.url, `${base}/bom`);
  assert.equal(answer.bodyUsed, false);
  assert.deepEqual(await answer.clone().json(), { é: 1 });
  assert.equal(await answer.text(), '{"é":1}');
  assert.equal(answer.bodyUsed, true);
  await assert.rejects(answer.text(), TypeError);
  assert.throws(() => answer.clone(), TypeError);
  assert.equal((await (await providerFetch(`${base}/bom`)).arrayBuffer()).byteLength, 11);
  assert.equal(await (await providerFetch(`${base}/empty`)).text(), '');
});

test('a signal aborted while the request is out stops it; an unreachable provider rejects with its network error', async () => {
  const controller = new AbortController();
  const answer = providerFetch(`${base}/slow`, { signal: controller.signal });
  await once(arrivals, 'request'); // the request is out: the server has it
  controller.abort();
  await assert.rejects(answer, { name: 'AbortError' });
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(providerFetch(`http://127.0.0.1:${port}/x`, { timeoutMs: 5000 }), { code: 'ECONNREFUSED' });
});

test('a body that cannot be sent is refused before anything starts, leaving no timer behind', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timers();
  await assert.rejects(providerFetch(`${base}/x`, { method: 'POST', body: new ReadableStream(), timeoutMs: 60_000 }), TypeError);
  assert.equal(timers(), before, 'no timer is left running for timeoutMs');
});

test('an answer larger than MAX_ANSWER_BYTES is refused, not read into memory without end', async () => {
  await assert.rejects(providerFetch(`${base}/endless`, { timeoutMs: 5000 }), (error: Error) =>
    error instanceof RangeError && error.message === `the answer from ${base} is larger than ${MAX_ANSWER_BYTES / 1024} KiB`);
});
