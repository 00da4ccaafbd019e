// The route flags (`config: { session, json }`) as a host app declares them on its own routes,
// and the 404 answers, through the real plugin on an in-memory SQLite database.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createUser } from '../accounts/users.ts';
import { loadConfig } from '../config/index.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';
import { oidcConnect } from './plugin.ts';

describe('route flags', () => {
  let app: FastifyInstance;
  let database: DatabaseHandle;
  let cookie: string;

  before(async () => {
    const config = loadConfig({
      cwd: '/nonexistent',
      env: { DATABASE_URL: 'sqlite::memory:', SESSION_SECRET: 'test-secret-test-secret-test-secret-1234', DEV_IDP_PORT: '1' },
    });
    database = openDatabase(config.database);
    await migrate(database);
    await createUser(database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    app = Fastify();
    await app.register(oidcConnect, { config, db: database.db });
    const whoami = async (request: { user: { username: string } | null }) => ({ user: request.user?.username ?? null });
    app.get('/whoami', whoami);
    app.get('/whoami-no-session', { config: { session: false } }, whoami);
    const refuse = async () => {
      throw new OidcConnectError('FORBIDDEN', 'Not for you.');
    };
    app.get('/page', refuse);
    app.get('/endpoint', { config: { json: true } }, refuse);
    await app.ready();

    const form = await app.inject({ url: '/accounts/login/' });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
    const csrfCookie = form.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const login = await app.inject({
      method: 'POST',
      url: '/accounts/login/',
      headers: { cookie: csrfCookie },
      payload: { _csrf: csrf, username: 'carol', password: 'carol password', next: '/' },
    });
    assert.equal(login.statusCode, 302);
    const session = login.cookies.find((c) => c.name === 'oc_session');
    assert.ok(session);
    cookie = `oc_session=${session.value}`;
  });
  after(async () => {
    await app.close();
    await database.close();
  });

  test('session: false leaves the session cookie unread', async () => {
    assert.deepEqual((await app.inject({ url: '/whoami', headers: { cookie } })).json(), { user: 'carol' });
    assert.deepEqual((await app.inject({ url: '/whoami-no-session', headers: { cookie } })).json(), { user: null });
  });

  test('json: true answers errors as JSON even to a browser', async () => {
    const page = await app.inject({ url: '/page', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 403);
    assert.match(page.headers['content-type'] ?? '', /text\/html/);
    const endpoint = await app.inject({ url: '/endpoint', headers: { accept: 'text/html' } });
    assert.equal(endpoint.statusCode, 403);
    assert.deepEqual(endpoint.json(), { error: 'FORBIDDEN', message: 'Not for you.' });
  });

  test('an unknown path under /api/ is a JSON 404; elsewhere a page', async () => {
    const api = await app.inject({ url: '/api/nothing/here', headers: { accept: 'text/html' } });
    assert.equal(api.statusCode, 404);
    assert.deepEqual(api.json(), { error: 'NOT_FOUND', message: 'There is nothing at this address.' });
    const page = await app.inject({ url: '/nothing/here', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 404);
    assert.match(page.body, /Page not found/);
  });
});
