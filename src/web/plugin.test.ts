// The plugin's options and route flags as a host app uses them, and the standalone app's error pages,
// through the real plugin on in-memory SQLite databases.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { createUser } from '../accounts/users.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { ConfigError, OidcConnectError } from '../errors.ts';
import { createRelyingParty } from '../rp/index.ts';
import { buildApp } from './app.ts';
import { oidcConnect, type OidcConnectOptions } from './plugin.ts';

const SECRET = 'test-secret-test-secret-test-secret-1234';
const testConfig = (env: Record<string, string> = {}): Config =>
  loadConfig({ cwd: '/nonexistent', env: { DATABASE_URL: 'sqlite::memory:', SESSION_SECRET: SECRET, DEV_IDP_PORT: '1', ...env } });

/** Signs carol in through the login form; returns her session cookie. */
async function signIn(app: FastifyInstance): Promise<string> {
  const form = await app.inject({ url: '/accounts/login/' });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  const login = await app.inject({
    method: 'POST',
    url: '/accounts/login/',
    headers: { cookie: form.cookies.map((c) => `${c.name}=${c.value}`).join('; ') },
    payload: { _csrf: csrf, username: 'carol', password: 'carol password', next: '/' },
  });
  assert.equal(login.statusCode, 302);
  const session = login.cookies.find((c) => c.name === 'oc_session');
  assert.ok(session);
  return `oc_session=${session.value}`;
}

/** The plugin alone in a bare Fastify app, with `options`, over a fresh database with carol in it. */
async function pluginApp(options: Omit<OidcConnectOptions, 'db'> = {}): Promise<{ app: FastifyInstance; database: DatabaseHandle }> {
  const config = options.config ?? testConfig();
  const database = openDatabase(config.database);
  await migrate(database);
  await createUser(database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
  const app = Fastify();
  await app.register(oidcConnect, { ...options, config, db: database.db });
  return { app, database };
}

describe('route flags on a host app\'s routes', () => {
  let app: FastifyInstance;
  let database: DatabaseHandle;
  let cookie: string;

  before(async () => {
    ({ app, database } = await pluginApp());
    const whoami = async (request: { user: { username: string } | null }) => ({ user: request.user?.username ?? null });
    app.get('/whoami', whoami);
    app.get('/whoami-no-session', { config: { session: false } }, whoami);
    await app.ready();
    cookie = await signIn(app);
  });
  after(async () => {
    await app.close();
    await database.close();
  });

  test('session: false leaves the session cookie unread', async () => {
    assert.deepEqual((await app.inject({ url: '/whoami', headers: { cookie } })).json(), { user: 'carol' });
    assert.deepEqual((await app.inject({ url: '/whoami-no-session', headers: { cookie } })).json(), { user: null });
  });

  test('an unknown path under our prefixes is our 404 page; elsewhere, and under /api/, Fastify\'s (the host\'s)', async () => {
    const ours = await app.inject({ url: '/admin/nothing', headers: { accept: 'text/html' } });
    assert.equal(ours.statusCode, 404);
    assert.match(ours.body, /Page not found/);
    for (const url of ['/nothing/here', '/api/nothing']) {
      const theirs = await app.inject({ url, headers: { accept: 'text/html' } });
      assert.equal(theirs.statusCode, 404);
      assert.equal(theirs.json().error, 'Not Found', url);
    }
  });
});

describe('the standalone app: every error and 404 is ours', () => {
  let app: FastifyInstance;
  let database: DatabaseHandle;

  before(async () => {
    const config = testConfig();
    database = openDatabase(config.database);
    await migrate(database);
    app = await buildApp({ config, db: database.db, rp: createRelyingParty(config, database.db) });
    const refuse = async () => {
      throw new OidcConnectError('FORBIDDEN', 'Not for you.');
    };
    app.get('/page', refuse);
    app.get('/endpoint', { config: { json: true } }, refuse);
    await app.ready();
  });
  after(async () => {
    await app.close();
    await database.close();
  });

  test('json: true answers errors as JSON even to a browser', async () => {
    const page = await app.inject({ url: '/page', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 403);
    assert.match(page.headers['content-type'] ?? '', /text\/html/);
    const endpoint = await app.inject({ url: '/endpoint', headers: { accept: 'text/html' } });
    assert.equal(endpoint.statusCode, 403);
    assert.deepEqual(endpoint.json(), { error: 'FORBIDDEN', message: 'Not for you.' });
  });

  test('an unknown path under /api/ is a JSON 404; elsewhere a page, with the security headers', async () => {
    const api = await app.inject({ url: '/api/nothing/here', headers: { accept: 'text/html' } });
    assert.equal(api.statusCode, 404);
    assert.deepEqual(api.json(), { error: 'NOT_FOUND', message: 'There is nothing at this address.' });
    const page = await app.inject({ url: '/nothing/here', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 404);
    assert.match(page.body, /Page not found/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  });

  test('"You have been logged out" shows for the flag alone: its value never reaches the page', async () => {
    const flagged = await app.inject({ url: '/?logged_out=1' });
    assert.match(flagged.body, /<div class="alert ok" role="status">You have been logged out\.<\/div>/);
    assert.doesNotMatch((await app.inject({ url: '/' })).body, /logged out\./);
    const probe = '<script>alert(1)</script>';
    for (const url of [`/?logged_out=${encodeURIComponent(probe)}`, `/accounts/login/?logged_out=${encodeURIComponent(probe)}`]) {
      const page = await app.inject({ url });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /You have been logged out\./, url);
      assert.ok(!page.body.includes('alert(1)'), url);
    }
  });
});

describe('look and feel options', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-views-'));
    writeFileSync(join(dir, 'login.eta'), '<% layout(\'./layout\', { title: \'Sign in to Acme\', user: null, loginPage: true }) %><p id="acme">Acme <%= it.next %></p><input name="_csrf" value="<%= it.csrf %>">');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const page = async (options: Omit<OidcConnectOptions, 'db'>, url = '/accounts/login/'): Promise<LightMyRequestResponse> => {
    const { app, database } = await pluginApp(options);
    try {
      return await app.inject({ url });
    } finally {
      await app.close();
      await database.close();
    }
  };

  test('by default the brand is oidc-connect, with our favicon', async () => {
    const login = await page({});
    assert.match(login.body, /<title>Log In · oidc-connect<\/title>/);
    assert.match(login.body, /<a class="brand" href="\/">oidc-connect<\/a>/);
    assert.match(login.body, /rel="icon" href="\/oidc-connect\/static\/favicon\.svg"/);
  });

  test('brand: the name and logo show in the header and title; the logo\'s origin joins img-src', async () => {
    const login = await page({ brand: { name: 'Acme <Portal>', logoUrl: 'https://cdn.example.com/acme.svg?v=1&x=2' } });
    assert.match(login.body, /<title>Log In · Acme &lt;Portal&gt;<\/title>/);
    assert.match(login.body, /<a class="brand" href="\/"><img src="https:\/\/cdn\.example\.com\/acme\.svg\?v=1&amp;x=2" alt="">Acme &lt;Portal&gt;<\/a>/);
    assert.match(String(login.headers['content-security-policy']), /img-src 'self' data: https:\/\/cdn\.example\.com;/);
    const local = await page({ brand: { logoUrl: '/logo.png' } });
    assert.match(local.body, /<img src="\/logo\.png" alt="">oidc-connect/);
    assert.match(String(local.headers['content-security-policy']), /img-src 'self' data:;/);
  });

  test('views: a template of the same name wins over ours, and keeps our layout', async () => {
    const login = await page({ views: dir, brand: { name: 'Acme' } }, '/accounts/login/?next=/x');
    assert.match(login.body, /<p id="acme">Acme \/x<\/p>/);
    assert.match(login.body, /<title>Sign in to Acme · Acme<\/title>/);
    const missing = await page({ views: dir }, '/accounts/nothing/');
    assert.match(missing.body, /Page not found/, 'the other pages stay ours');
  });

  test('bad options are configuration errors naming the option', async () => {
    const cases: [Omit<OidcConnectOptions, 'db'>, RegExp][] = [
      [{ views: join(dir, 'nope') }, /^views: .*nope is not a directory of \.eta templates$/],
      [{ brand: { logoUrl: 'javascript:alert(1)' } }, /^brand\.logoUrl: javascript:alert\(1\) must be a path on this site/],
      [{ brand: { logoUrl: '//evil.example/x.png' } }, /^brand\.logoUrl: /],
      [{ brand: { name: '' } }, /^brand\.name: must be a non-empty string/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(pluginApp(options), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    }
  });

  test('devIdp: true is refused when NODE_ENV=production, before anything starts', async () => {
    const config = testConfig({
      NODE_ENV: 'production', APP_URL: 'https://app.example.com', SESSION_SECRET: 'Zq8#vL2!pR7@mK4$wT9^nB3&xF6*hJ1%dS5(gY0)',
      OIDC_ISSUER: 'https://idp.example.com', OIDC_RP_CLIENT_ID: 'app', OIDC_RP_CLIENT_SECRET: 'secret',
    });
    await assert.rejects(pluginApp({ config, devIdp: true }),
      (error: unknown) => error instanceof ConfigError && /^devIdp: true is refused when NODE_ENV=production/.test(error.message));
  });
});

describe('the root routes and a prefix', () => {
  /** A host with its own GET /healthz and /api/me, then the plugin with `options`; closed by the test. */
  async function hostWithOwnRoutes(options: Omit<OidcConnectOptions, 'db' | 'config'>) {
    const config = testConfig();
    const database = openDatabase(config.database);
    await migrate(database);
    await createUser(database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    const app = Fastify();
    app.get('/healthz', async () => ({ host: 'healthz' }));
    app.get('/api/me', async () => ({ host: 'me' }));
    const close = async () => {
      await app.close();
      await database.close();
    };
    try {
      await app.register(oidcConnect, { ...options, config, db: database.db });
      await app.ready();
    } catch (error) {
      await close();
      throw error;
    }
    return { app, close };
  }

  test('without the routes option, a host with its own /healthz and /api/me fails to start on a duplicate route', async () => {
    await assert.rejects(hostWithOwnRoutes({}), (error: unknown) =>
      (error as { code?: string }).code === 'FST_ERR_DUPLICATED_ROUTE' && /'GET' already declared for route '\/(healthz|api\/me)'/.test((error as Error).message));
  });

  test('routes: { health: false, me: "/auth/me" }: the host keeps its /healthz and /api/me, and ours answers at /auth/me', async () => {
    const { app, close } = await hostWithOwnRoutes({ routes: { health: false, me: '/auth/me' } });
    try {
      assert.deepEqual((await app.inject('/healthz')).json(), { host: 'healthz' });
      assert.deepEqual((await app.inject('/api/me')).json(), { host: 'me' });
      const anonymous = await app.inject('/auth/me');
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.json().error, 'LOGIN_REQUIRED');
      const cookie = await signIn(app);
      assert.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).json().username, 'carol');
    } finally {
      await close();
    }
  });

  test('routes: { health: "/auth/healthz", me: false }: our health check moves, and no /api/me of ours is left', async () => {
    const { app, close } = await hostWithOwnRoutes({ routes: { health: '/auth/healthz', me: false } });
    try {
      assert.deepEqual((await app.inject('/auth/healthz')).json(), { status: 'ok' });
      assert.deepEqual((await app.inject('/healthz')).json(), { host: 'healthz' });
      assert.equal(app.hasRoute({ method: 'GET', url: '/auth/me' }), false);
    } finally {
      await close();
    }
  });

  test('a routes value that is neither a path nor false is refused, one line per route, naming it', async () => {
    await assert.rejects(pluginApp({ routes: { health: 'healthz', me: true as unknown as false } }), (error: unknown) =>
      error instanceof ConfigError && error.problems.length === 2
      && /^routes\.health: "healthz" is not a path such as \/healthz; give one starting with \/, or false/.test(error.problems[0]!)
      && /^routes\.me: true is not a path such as \/api\/me/.test(error.problems[1]!));
  });

  test('a prefix is refused in one line saying why, as register\'s option and from an enclosing prefixed context', async () => {
    const why = /^oidc-connect: register it without a prefix \(here \/auth\): its routes are fixed, because the redirect URIs registered at the provider are APP_URL plus \/authorization-code\/callback/;
    const config = testConfig();
    for (const mount of [
      (app: FastifyInstance) => app.register(oidcConnect, { config, prefix: '/auth' } as OidcConnectOptions),
      (app: FastifyInstance) => app.register(async (auth) => { await auth.register(oidcConnect, { config }); }, { prefix: '/auth' }),
    ]) {
      const app = Fastify();
      await assert.rejects(async () => {
        await mount(app);
        await app.ready();
      }, (error: unknown) => error instanceof ConfigError && error.problems.length === 1 && why.test(error.message));
      await app.close();
    }
  });
});

test('an OIDC_ISSUER without OIDC_PROVIDER_NAME keeps the login button "Log In with Okta" (its messages name the host)', async () => {
  const config = testConfig({ OIDC_ISSUER: 'https://accounts.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's' });
  const { app, database } = await pluginApp({ config });
  try {
    const page = await app.inject('/accounts/login/');
    assert.match(page.body, />Log In with Okta</);
    assert.doesNotMatch(page.body, /accounts\.example\.com/);
  } finally {
    await app.close();
    await database.close();
  }
});
