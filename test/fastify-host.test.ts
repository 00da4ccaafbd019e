// The plugin inside someone else's Fastify app (issue 12, section 1): the host keeps its own cookie,
// form and CSRF plugins, its error handler and its 404 page, and its users still sign in through both
// flows: the login form, and the code flow with the development provider the plugin starts itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { createUser } from '../src/accounts/users.ts';
import type { DatabaseHandle } from '../src/db/index.ts';
import { oidcConnect } from '../src/web/plugin.ts';
import { freePort, testAppBase } from './support/app.ts';
import { providerLogin } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';

interface Host {
  url: string;
  app: FastifyInstance;
  database: DatabaseHandle;
  close(): Promise<void>;
}

type HostSetup = (app: FastifyInstance) => Promise<void>;

/**
 * A host app on a real port: `before` runs before the plugin is registered, `after` once it is.
 * The plugin gets the app's own database (with carol in it) and `devIdp: true`.
 */
async function startHost(setup: { before: HostSetup; after?: HostSetup }): Promise<Host> {
  const base = await testAppBase('host', { DEV_IDP_PORT: String(await freePort()) });
  const { config, database, port } = base;
  await createUser(database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
  const app = Fastify();
  await setup.before(app);
  await app.register(oidcConnect, { config, db: database.db, devIdp: true });
  app.get('/whoami', async (request) => ({ user: request.user?.username ?? null }));
  app.get('/boom', async () => {
    throw new Error('the host broke');
  });
  await setup.after?.(app);
  await app.listen({ port, host: '127.0.0.1' });
  return {
    url: config.appUrl,
    app,
    database,
    async close() {
      await app.close();
      await base.close();
    },
  };
}

const hostErrorHandler = (app: FastifyInstance) =>
  app.setErrorHandler(async (error, _request, reply) => reply.code(418).send({ host: 'error', message: (error as Error).message }));
const hostNotFound = (app: FastifyInstance) =>
  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ host: 'not found' }));

async function formLogin(client: HttpClient, url: string): Promise<number> {
  const page = await client.get(`${url}/accounts/login/`);
  assert.equal(page.status, 200);
  const done = await client.post(`${url}/accounts/login/`, {
    _csrf: hiddenField(page.body, '_csrf'), next: '/whoami', username: 'carol', password: 'carol password',
  });
  return done.status;
}

async function whoami(client: HttpClient, url: string): Promise<string | null> {
  return (JSON.parse((await client.get(`${url}/whoami`)).body) as { user: string | null }).user;
}

describe('a host with its own @fastify/cookie (no secret) and @fastify/formbody, error handler and 404', () => {
  let host: Host;
  before(async () => {
    host = await startHost({
      before: async (app) => {
        await app.register(fastifyCookie);
        await app.register(fastifyFormbody);
        hostErrorHandler(app);
        hostNotFound(app);
      },
    });
  });
  after(() => host.close());

  test('its own error handler still answers its own routes', async () => {
    const boom = await new HttpClient().get(`${host.url}/boom`);
    assert.equal(boom.status, 418);
    assert.deepEqual(JSON.parse(boom.body), { host: 'error', message: 'the host broke' });
  });

  test('its own 404 still answers unknown paths, /api/ ones included', async () => {
    for (const path of ['/no/such/page', '/api/nothing']) {
      const missing = await new HttpClient().get(`${host.url}${path}`);
      assert.equal(missing.status, 404, path);
      assert.deepEqual(JSON.parse(missing.body), { host: 'not found' }, path);
    }
  });

  test('our paths keep our pages: a 404 under /accounts/ and a refused form', async () => {
    const missing = await new HttpClient().get(`${host.url}/accounts/nothing/`);
    assert.equal(missing.status, 404);
    assert.match(missing.body, /Page not found/);
    const forged = await new HttpClient().post(`${host.url}/accounts/login/`, { username: 'carol', password: 'carol password' });
    assert.equal(forged.status, 403);
    assert.match(forged.body, /CSRF_INVALID/);
  });

  test('carol signs in with the login form; the host route sees her', async () => {
    const client = new HttpClient();
    assert.equal(await formLogin(client, host.url), 302);
    assert.equal(await whoami(client, host.url), 'carol');
  });

  test('alice signs in through the code flow, with the development provider the plugin started', async () => {
    const client = new HttpClient();
    const done = await providerLogin(client, host.url, { email: 'alice@example.com', password: 'wonderland' }, '/whoami');
    assert.equal(done.status, 302);
    assert.equal(done.location, `${host.url}/whoami`);
    assert.equal(await whoami(client, host.url), 'alice');
  });

  test('our pages are styled by the plugin: stylesheet and favicon, linked from the layout', async () => {
    const client = new HttpClient();
    const page = await client.get(`${host.url}/accounts/login/`);
    assert.match(page.body, /<link rel="stylesheet" href="\/oidc-connect\/static\/app\.css">/);
    assert.match(page.body, /<link rel="icon" href="\/oidc-connect\/static\/favicon\.svg" type="image\/svg\+xml">/);
    assert.match(page.headers.get('content-security-policy') ?? '', /style-src 'self'/);
    const css = await client.get(`${host.url}/oidc-connect/static/app.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.match(css.body, /--brand/);
    const icon = await client.get(`${host.url}/oidc-connect/static/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.match(icon.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(icon.body, /^<svg /);
  });

  test('a logout lands on LOGOUT_REDIRECT_URL (/) flagged logged_out=1, for the notice', async () => {
    const client = new HttpClient();
    assert.equal(await formLogin(client, host.url), 302);
    const page = await client.get(`${host.url}/accounts/login/`);
    const out = await client.post(`${host.url}/accounts/logout/`, { _csrf: hiddenField(page.body, '_csrf') });
    assert.equal(out.status, 302);
    assert.equal(out.location, `${host.url}/?logged_out=1`);
    assert.equal(await whoami(client, host.url), null);
  });
});

describe('a host with @fastify/cookie signed by its own secret and its own @fastify/csrf-protection, 404 set after the plugin', () => {
  let host: Host;
  before(async () => {
    host = await startHost({
      before: async (app) => {
        await app.register(fastifyCookie, { secret: 'the host app secret, not ours at all' });
        await app.register(fastifyCsrf);
        hostErrorHandler(app);
      },
      after: async (app) => {
        hostNotFound(app);
        app.get('/host-form', async (_request, reply) => ({ csrf: reply.generateCsrf() }));
      },
    });
  });
  after(() => host.close());

  test('both plugins are shared: carol signs in, and the host still makes its own CSRF tokens', async () => {
    const client = new HttpClient();
    assert.equal(await formLogin(client, host.url), 302);
    assert.equal(await whoami(client, host.url), 'carol');
    assert.equal(typeof JSON.parse((await client.get(`${host.url}/host-form`)).body).csrf, 'string');
  });

  test('the code flow signs in too', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, host.url, { email: 'bob@example.com', password: 'builder' }, '/whoami')).status, 302);
    assert.equal(await whoami(client, host.url), 'bob');
  });

  test('the error handler and the 404 are the host\'s', async () => {
    assert.equal((await new HttpClient().get(`${host.url}/boom`)).status, 418);
    const missing = await new HttpClient().get(`${host.url}/nope`);
    assert.deepEqual([missing.status, JSON.parse(missing.body)], [404, { host: 'not found' }]);
  });
});

describe('a host that registers nothing of its own', () => {
  let host: Host;
  before(async () => {
    host = await startHost({ before: async () => {} });
  });
  after(() => host.close());

  test('the plugin brings the cookie parser the host routes see request.user through', async () => {
    const client = new HttpClient();
    assert.equal(await formLogin(client, host.url), 302);
    assert.equal(await whoami(client, host.url), 'carol');
  });

  test('a host route that throws gets Fastify\'s own answer, not our error page', async () => {
    const boom = await new HttpClient().get(`${host.url}/boom`);
    assert.equal(boom.status, 500);
    assert.match(boom.headers.get('content-type') ?? '', /application\/json/);
  });
});

describe('a host listening on another port than APP_URL\'s (the port trap)', () => {
  const lines: { level: number; msg: string; host?: string; appUrl?: string }[] = [];
  let base: Awaited<ReturnType<typeof testAppBase>>;
  let app: FastifyInstance;
  let elsewhere: string;
  before(async () => {
    base = await testAppBase('port-trap', { DEV_IDP_PORT: String(await freePort()) });
    app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } } });
    await app.register(oidcConnect, { config: base.config, db: base.database.db, devIdp: true });
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    elsewhere = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await app.close();
    await base.close();
  });
  const warnings = () => lines.filter((line) => /^a sign-in started at /.test(line.msg));

  test('a sign-in started at APP_URL\'s host logs nothing; one started at another port logs one warning naming both, once', async () => {
    const atAppUrl = await app.inject({ url: '/authorization-code/authenticate/', headers: { host: new URL(base.config.appUrl).host } });
    assert.equal(atAppUrl.statusCode, 302);
    assert.equal(warnings().length, 0);

    for (let i = 0; i < 3; i++) {
      const started = await new HttpClient().get(`${elsewhere}/authorization-code/authenticate/`);
      assert.equal(started.status, 302, 'the sign-in still starts');
    }
    assert.equal(warnings().length, 1);
    const [warning] = warnings();
    assert.equal(warning!.level, 40);
    assert.equal(warning!.host, new URL(elsewhere).host);
    assert.equal(warning!.appUrl, base.config.appUrl);
    assert.ok(warning!.msg.startsWith(`a sign-in started at ${elsewhere}, but APP_URL is ${base.config.appUrl}: the provider will send the browser back to ${base.config.appUrl}/authorization-code/callback`), warning!.msg);
  });
});
