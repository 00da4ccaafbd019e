import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../../src/index.ts';
import { Browser, fetchText } from './http.ts';
import { appLogin, type AppLoginTarget, type Credentials, type ProviderEndpoints } from './logins.ts';
import type { Options } from './options.ts';
import { freePort, LOAD_CORE, SERVER_CORE, startServer, type Child } from './proc.ts';

export const ALICE: Credentials = { email: 'alice@example.com', password: 'wonderland' };
export const GREETING = 'Hi alice - alice@example.com!';

const here = (file: string) => new URL(file, import.meta.url).pathname;
export const SERVERS = {
  idp: here('../servers/idp.ts'),
  ours: here('../servers/oidc-connect.ts'),
  bare: here('../servers/bare.ts'),
  eoc: here('../servers/express-openid-connect.ts'),
  okta: here('../servers/okta.ts'),
};

/** One app under test, logged in as alice. */
export interface App {
  /** Short key: ours, eoc, okta, bare. */
  key: string;
  label: string;
  url: string;
  child: Child;
  login: AppLoginTarget | null;
  /** Cookie header of alice's logged-in browser (empty for the bare ceiling). */
  cookie: string;
}

export interface Stack {
  dir: string;
  /** The provider's data (keys, SQLite store). */
  providerDir: string;
  idp: Child;
  issuer: string;
  endpoints: ProviderEndpoints & { jwks_uri: string };
  sessionSecret: string;
  ours: App;
  eoc: App;
  okta: App;
  bare: App;
  /** Starts another oidc-connect process on a database (the scale measure), `env` added to its environment. */
  startOurs(name: string, databaseUrl: string, env?: Record<string, string>): Promise<Child>;
  /** The cookies alice's browser sends to oidc-connect besides the session (the CSRF secret cookie). */
  oursExtraCookies: string;
  /** oidc-connect's SQLite file (the main one). */
  oursDatabase: string;
}

function cookieHeader(browser: Browser, url: string, skip: string[] = []): string {
  return [...browser.cookies(new URL(url).host)].filter(([name]) => !skip.includes(name)).map(([k, v]) => `${k}=${v}`).join('; ');
}

/**
 * Where the provider keeps its data. Its store is a SQLite file in rollback-journal mode with
 * synchronous=FULL (src/dev-idp/op-storage.ts), so each of its ~8 writes per login waits for
 * fsyncs; on a RAM disk (/dev/shm) those cost nothing, and the provider fixture bounds the login
 * measure less. BENCH_IDP_DIR overrides it.
 */
export function providerDataDir(dir: string): string {
  return process.env['BENCH_IDP_DIR']
    ?? (existsSync('/dev/shm') ? mkdtempSync('/dev/shm/oidc-connect-bench-provider-') : join(dir, 'provider'));
}

/** Starts the provider and every app, logs alice into each app, and checks each serves her page. */
export async function startStack(dir: string, providerDir: string, options: Options): Promise<Stack> {
  const [idpPort, oursPort, eocPort, oktaPort, barePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const oursUrl = `http://127.0.0.1:${oursPort}`;
  const eocUrl = `http://127.0.0.1:${eocPort}`;
  const oktaUrl = `http://127.0.0.1:${oktaPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const sessionSecret = randomBytes(32).toString('base64url');
  const profArgs = (name: string) => (options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', join(options.cpuProfDir, name)] : []);
  const peerClients = {
    eoc: { client_id: 'bench-express-openid-connect', client_secret: randomBytes(16).toString('hex'), redirect_uris: [`${eocUrl}/callback`] },
    okta: { client_id: 'bench-okta-oidc-middleware', client_secret: randomBytes(16).toString('hex'), redirect_uris: [`${oktaUrl}/authorization-code/callback`] },
  };

  // The provider shares the load generator's core: it is idle while pages are measured, and in the
  // login measure it is part of the load, measured separately (its CPU per login). Its data lives in
  // `providerDir` (see providerDataDir()).
  const idp = await startServer('provider', SERVERS.idp, LOAD_CORE, {
    BENCH_IDP_PORT: String(idpPort),
    BENCH_APP_URL: oursUrl,
    BENCH_DATA_DIR: providerDir,
    BENCH_EXTRA_CLIENTS: JSON.stringify(Object.values(peerClients)),
    ...(process.env['BENCH_IDP_JOURNAL'] ? { BENCH_IDP_JOURNAL: process.env['BENCH_IDP_JOURNAL'] } : {}),
  }, profArgs('provider'));
  const issuer = String(idp.info['issuer']);
  const endpoints = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Stack['endpoints'];

  const oursDatabase = join(dir, 'oidc-connect.sqlite');
  const oursEnv = (port: number, databaseUrl: string): Record<string, string> => ({
    BENCH_DIR: dir,
    PORT: String(port),
    APP_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    SESSION_SECRET: sessionSecret,
    DEV_IDP_PORT: String(idpPort),
    LOG_LEVEL: 'warn',
    // Sessions from providers without refresh tokens are renewed silently every 15 min by default;
    // an hour keeps every session of the run (and the minted ones) inside one renewal period.
    OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: '3600',
  });
  const peerEnv = (port: number, client: { client_id: string; client_secret: string }) => ({
    PORT: String(port), BENCH_ISSUER: issuer, BENCH_CLIENT_ID: client.client_id, BENCH_CLIENT_SECRET: client.client_secret, SESSION_SECRET: sessionSecret,
  });
  const [oursChild, eocChild, oktaChild] = await Promise.all([
    startServer('oidc-connect', SERVERS.ours, SERVER_CORE, oursEnv(oursPort, `sqlite:${oursDatabase}`), profArgs('oidc-connect')),
    startServer('express-openid-connect', SERVERS.eoc, SERVER_CORE, peerEnv(eocPort, peerClients.eoc), profArgs('express-openid-connect')),
    startServer('@okta/oidc-middleware', SERVERS.okta, SERVER_CORE, peerEnv(oktaPort, peerClients.okta), profArgs('okta-oidc-middleware')),
  ]);

  const logins: Record<'ours' | 'eoc' | 'okta', AppLoginTarget> = {
    ours: { startUrl: `${oursUrl}/authorization-code/authenticate/?next=%2F`, callbackUrl: `${oursUrl}/authorization-code/callback`, sessionCookie: 'oc_session' },
    eoc: { startUrl: `${eocUrl}/login`, callbackUrl: `${eocUrl}/callback`, sessionCookie: 'appSession' },
    okta: { startUrl: `${oktaUrl}/login`, callbackUrl: `${oktaUrl}/authorization-code/callback`, sessionCookie: 'connect.sid' },
  };
  const loggedIn = async (url: string, target: AppLoginTarget, skip: string[]) => {
    const browser = await appLogin(target, ALICE);
    const page = await browser.get(`${url}/`); // as a browser lands on next=/ (and gets its CSRF cookie)
    if (page.status !== 200 || !page.body.includes(GREETING)) throw new Error(`${url}/ after login: ${page.status} ${page.body.slice(0, 200)}`);
    return { cookie: cookieHeader(browser, url, skip), html: page.body, browser };
  };
  // The login flow's own cookies (oc_flow, express-openid-connect's auth_verification) are not part of a page view.
  const oursLogin = await loggedIn(oursUrl, logins.ours, ['oc_flow']);
  const eocLogin = await loggedIn(eocUrl, logins.eoc, ['auth_verification']);
  const oktaLogin = await loggedIn(oktaUrl, logins.okta, []);

  // The ceiling serves oidc-connect's page for alice exactly as it was rendered.
  const htmlFile = join(dir, 'home.html');
  writeFileSync(htmlFile, oursLogin.html);
  const bareChild = await startServer('bare Fastify', SERVERS.bare, SERVER_CORE, {
    PORT: String(barePort), BENCH_HTML_FILE: htmlFile, BENCH_ISSUER: issuer, BENCH_JWKS_URL: endpoints.jwks_uri,
  }, profArgs('bare'));

  const stack: Stack = {
    dir,
    providerDir,
    idp,
    issuer,
    endpoints,
    sessionSecret,
    ours: { key: 'ours', label: 'oidc-connect', url: oursUrl, child: oursChild, login: logins.ours, cookie: oursLogin.cookie },
    eoc: { key: 'eoc', label: 'express-openid-connect', url: eocUrl, child: eocChild, login: logins.eoc, cookie: eocLogin.cookie },
    okta: { key: 'okta', label: '@okta/oidc-middleware', url: oktaUrl, child: oktaChild, login: logins.okta, cookie: oktaLogin.cookie },
    bare: { key: 'bare', label: 'bare Fastify (ceiling)', url: bareUrl, child: bareChild, login: null, cookie: '' },
    oursExtraCookies: cookieHeader(oursLogin.browser, oursUrl, ['oc_flow', 'oc_session']),
    oursDatabase,
    async startOurs(name, databaseUrl, env = {}) {
      return startServer(name, SERVERS.ours, SERVER_CORE, { ...oursEnv(await freePort(), databaseUrl), ...env }, profArgs(name));
    },
  };
  for (const app of [stack.bare, stack.ours, stack.okta, stack.eoc]) await checkPage(app);
  return stack;
}

/** The page must greet alice (a run of redirects or error pages would measure nothing). */
export async function checkPage(app: App): Promise<void> {
  const page = await fetchText(`${app.url}/`, app.cookie ? { cookie: app.cookie } : {});
  if (page.status !== 200 || !page.body.includes(GREETING)) {
    throw new Error(`${app.label}: GET / answered ${page.status} without "${GREETING}": ${page.body.slice(0, 300)}`);
  }
}

export const OURS_CLIENT = { clientId: DEV_CLIENT_ID, clientSecret: DEV_CLIENT_SECRET };
