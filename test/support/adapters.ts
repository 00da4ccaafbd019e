/**
 * The same host app, with the sign-in mounted through each adapter: the Fastify plugin, and the
 * Express middleware on Express 5 and 4. Each has the same host routes, so one suite runs on all:
 *   GET /          JSON { user, provider, csrf }: who the host sees, and a CSRF token for our forms
 *   GET /private   requireLogin
 *   GET /api/things, /api/admin-things   requireBearer with scope email, and admin
 *   GET /support, /api/support-things   requireLogin and requireBearer (scope email) with the role support
 *   GET /api/dpop-things   requireBearer({ dpop: 'required' })
 *   POST /echo     the host's own form and JSON bodies, to show ours don't take them
 *   GET /downstream[?audience=&scope=]   the session's access token (accessToken()): a call to the
 *                  provider's userinfo with its headers() and what came back, or the error's code
 * The development provider is started by the adapter's `devIdp: true`.
 */
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import fastifyFormbody from '@fastify/formbody';
import express4 from 'express';
import express5 from 'express5';
import Fastify from 'fastify';
import type { Config } from '../../src/config/index.ts';
import type { DatabaseHandle } from '../../src/db/index.ts';
import type { DevIdp } from '../../src/dev-idp/index.ts';
import type { AccessToken, AccessTokenOptions } from '../../src/rp/access-token.ts';
import { oidcConnect as oidcConnectExpress, requireBearer, requireLogin } from '../../src/web/express/index.ts';
import { oidcConnect, pluginState } from '../../src/web/plugin.ts';
import { freePort, testAppBase } from './app.ts';

export type Adapter = 'fastify' | 'express 5' | 'express 4';

/**
 * Express 5 mounts the middleware first, as the README says; Express 4 puts the app's body parsers
 * in front of it, so our forms arrive already parsed there.
 */
export const ADAPTERS: readonly Adapter[] = ['fastify', 'express 5', 'express 4'];

export interface AdapterApp {
  adapter: Adapter;
  /** APP_URL: where it is reached from outside. */
  url: string;
  /** Where this instance listens (APP_URL's unless another was set). */
  origin: string;
  config: Config;
  database: DatabaseHandle;
  idp: DevIdp;
  close(): Promise<void>;
}

interface Host {
  url: string;
  close(): Promise<void>;
}

interface Whoami {
  user: string | null;
  provider: string | null;
  csrf: string;
}

/** `env` is the app's whole environment over the defaults; nothing is read from the test process. */
export async function startAdapterApp(adapter: Adapter, env: Record<string, string> = {}): Promise<AdapterApp> {
  const base = await testAppBase('adapter', { DEV_IDP_PORT: String(await freePort()), ...env });
  const { config, database, port } = base;
  const options = { config, db: database.db, devIdp: true } as const;
  let host: Host & { idp: DevIdp };
  try {
    host = adapter === 'fastify' ? await fastifyHost(options, port) : await expressHost(adapter, options, port);
  } catch (error) {
    await base.close();
    throw error;
  }
  return {
    adapter,
    url: config.appUrl,
    origin: host.url,
    config,
    database,
    idp: host.idp,
    async close() {
      await host.close();
      await base.close();
    },
  };
}

type Options = { config: Config; db: DatabaseHandle['db']; devIdp: true };

export interface Downstream {
  type?: string;
  scope?: string;
  expiresAt?: number;
  /** SHA-256 of the token: tests compare tokens without a page ever holding one. */
  token?: string;
  /** What the provider's userinfo answered to the token (asked with the session's own token only). */
  userinfo?: { status: number; body: Record<string, unknown>; challenge: string | null };
  error?: string;
}

/** What GET /downstream does with the host's accessToken(): the same for every adapter. */
async function downstream(config: Config, query: Record<string, unknown>, accessToken: (options?: AccessTokenOptions) => Promise<AccessToken>): Promise<[number, Downstream]> {
  const options: AccessTokenOptions = {
    ...(typeof query['audience'] === 'string' ? { audience: query['audience'] } : {}),
    ...(typeof query['scope'] === 'string' ? { scope: query['scope'] } : {}),
  };
  let token: AccessToken;
  try {
    token = await accessToken(Object.keys(options).length > 0 ? options : undefined);
  } catch (error) {
    return [(error as { status?: number }).status ?? 500, { error: (error as { code?: string }).code ?? String(error) }];
  }
  const summary: Downstream = { type: token.type, ...(token.scope ? { scope: token.scope } : {}), ...(token.expiresAt ? { expiresAt: token.expiresAt } : {}), token: createHash('sha256').update(token.token).digest('base64url') };
  if (Object.keys(options).length > 0) return [200, summary];
  const url = `${config.providers[0]!.issuer}/v1/userinfo`;
  let answer = await fetch(url, { headers: await token.headers('GET', url) });
  // A server that wants its own nonce in DPoP proofs says so once (RFC 9449 §9); the call is made again with it.
  const nonce = answer.headers.get('dpop-nonce');
  if (answer.status === 401 && nonce) answer = await fetch(url, { headers: await token.headers('GET', url, { nonce }) });
  return [200, { ...summary, userinfo: { status: answer.status, body: await answer.json() as Record<string, unknown>, challenge: answer.headers.get('www-authenticate') } }];
}

async function fastifyHost(options: Options, port: number): Promise<Host & { idp: DevIdp }> {
  const app = Fastify();
  await app.register(fastifyFormbody);
  await app.register(oidcConnect, options);
  app.get('/', async (request, reply): Promise<Whoami> => ({
    user: request.user?.username ?? null,
    provider: request.session?.row.provider ?? null,
    csrf: reply.csrfToken(),
  }));
  app.get('/private', { preHandler: app.requireLogin }, async (request) => ({ private: request.user!.username }));
  app.get('/api/things', { preHandler: app.requireBearer({ scopes: ['email'] }) }, async (request) =>
    ({ user: request.user?.username ?? null, subject: request.bearer!.subject }));
  app.get('/api/admin-things', { preHandler: app.requireBearer({ scopes: ['admin'] }) }, async () => ({ secret: true }));
  app.get('/support', { preHandler: app.requireLogin({ roles: ['support'] }) }, async (request) => ({ support: request.user!.username }));
  app.get('/api/support-things', { preHandler: app.requireBearer({ scopes: ['email'], roles: ['support'] }) }, async (request) =>
    ({ support: request.user!.username }));
  app.get('/api/dpop-things', { preHandler: app.requireBearer({ dpop: 'required' }) }, async (request) => ({ user: request.user?.username ?? null }));
  app.post('/echo', async (request) => ({ body: request.body }));
  app.get('/downstream', async (request, reply) => {
    const [status, body] = await downstream(options.config, request.query as Record<string, unknown>, (o) => request.accessToken(o));
    return reply.code(status).send(body);
  });
  await app.listen({ port, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${port}`, idp: pluginState(app).runtime.devIdp!, close: () => app.close() };
}

async function expressHost(adapter: Adapter, options: Options, port: number): Promise<Host & { idp: DevIdp }> {
  const express = (adapter === 'express 5' ? express5 : express4) as typeof express5;
  const app = express();
  const auth = await oidcConnectExpress({ ...options, logger: false });
  const bodyParsers = [express.urlencoded({ extended: false }), express.json()];
  if (adapter === 'express 4') app.use(...bodyParsers, auth);
  else app.use(auth, ...bodyParsers);
  app.get('/', (req, res) => {
    res.json({ user: req.user?.username ?? null, provider: req.oidcConnect.session?.row.provider ?? null, csrf: req.oidcConnect.csrfToken() } satisfies Whoami);
  });
  app.get('/private', requireLogin(), (req, res) => {
    res.json({ private: req.user!.username });
  });
  app.get('/api/things', requireBearer({ scopes: ['email'] }), (req, res) => {
    res.json({ user: req.user?.username ?? null, subject: req.oidcConnect.bearer!.subject });
  });
  app.get('/api/admin-things', requireBearer({ scopes: ['admin'] }), (_req, res) => {
    res.json({ secret: true });
  });
  app.get('/support', requireLogin({ roles: ['support'] }), (req, res) => {
    res.json({ support: req.user!.username });
  });
  app.get('/api/support-things', requireBearer({ scopes: ['email'], roles: ['support'] }), (req, res) => {
    res.json({ support: req.user!.username });
  });
  app.get('/api/dpop-things', requireBearer({ dpop: 'required' }), (req, res) => {
    res.json({ user: req.user?.username ?? null });
  });
  app.post('/echo', (req, res) => {
    res.json({ body: req.body as unknown });
  });
  app.get('/downstream', (req, res, next) => {
    downstream(options.config, req.query as Record<string, unknown>, (o) => req.oidcConnect.accessToken(o))
      .then(([status, body]) => res.status(status).json(body), next);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening)).on('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    idp: auth.devIdp!,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
    },
  };
}
