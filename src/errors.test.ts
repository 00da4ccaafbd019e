import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { causeMessages, ERROR_CODES, networkFailure, OidcConnectError } from './errors.ts';

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
/** docs/errors.md's table rows: | `CODE` | status | meaning | what to do | */
const rows = [...docs.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
const documented = new Map(rows);

test('docs/errors.md has a row for every code, with its status', () => {
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    assert.ok(documented.has(code), `docs/errors.md has no row for ${code}`);
    // BAD_REQUEST keeps the 4xx status Fastify gave.
    assert.equal(documented.get(code), code === 'BAD_REQUEST' ? '4xx' : String(status), `status of ${code} in docs/errors.md`);
  }
});

test('docs/errors.md has one row per code, never two', () => {
  const seen = new Set<string>();
  const twice = rows.filter(([code]) => seen.has(code) || !seen.add(code)).map(([code]) => code);
  assert.deepEqual(twice, []);
});

test('docs/errors.md documents no code that does not exist', () => {
  for (const code of documented.keys()) assert.ok(code in ERROR_CODES, `docs/errors.md lists unknown code ${code}`);
});

test('every code has a title and a one-line meaning', () => {
  for (const [code, { title, meaning }] of Object.entries(ERROR_CODES)) {
    assert.ok(title.length > 0 && meaning.length > 0 && !meaning.includes('\n'), code);
  }
});

test('an error takes its status from its code unless told otherwise', () => {
  assert.equal(new OidcConnectError('CLIENT_AUTH_FAILED', 'x').status, 502);
  assert.equal(new OidcConnectError('BAD_REQUEST', 'x', { status: 413 }).status, 413);
});

test('causeMessages: each link once, with HTTP statuses and the attempts of an AggregateError', () => {
  const response = new Response(null, { status: 404 });
  Object.defineProperty(response, 'url', { value: 'https://id.example/.well-known/openid-configuration' });
  const error = new OidcConnectError('PROVIDER_BAD_RESPONSE', 'top', {
    cause: Object.assign(new Error('unexpected HTTP response status code'), { cause: response }),
  });
  assert.deepEqual(causeMessages(error), ['top', 'unexpected HTTP response status code', 'HTTP 404 from https://id.example/.well-known/openid-configuration']);
  const both = new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')]);
  assert.deepEqual(causeMessages(new Error('same', { cause: new Error('same', { cause: both }) })),
    ['same', 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432']);
});

test('networkFailure names DNS failures with their host, and connection failures in words', () => {
  const dns = Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND', hostname: 'db.invalid' });
  assert.equal(networkFailure(new TypeError('fetch failed', { cause: dns })), 'DNS lookup of db.invalid failed (ENOTFOUND)');
  assert.equal(networkFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5'), { code: 'ECONNREFUSED' })), 'connection refused');
  assert.equal(networkFailure(new Error('something else')), undefined);
});
