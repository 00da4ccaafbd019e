import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_USERS, DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../../src/index.ts';
import { Browser, fetchText } from './http.ts';
import { appLogin, type AppLoginTarget, type Credentials, type ProviderEndpoints } from './logins.ts';
import type { Options } from './options.ts';
import { freePort, LOAD_CORE, logHolds, SERVER_CORE, startServer, type Child } from './proc.ts';

export const ALICE: Credentials = { email: 'alice@example.com', password: 'wonderland' };
export const GREETING = 'Hi alice - alice@example.com!';

/** The mixed measure's people at the provider: person n, and one person who signs in many times. */
export const person = (n: number): Credentials => ({ email: `person${n}@example.com`, password: `bench-${n}` });
export const SOLO: Credentials = { email: 'solo@example.com', password: 'bench-solo' };

/** A client at the provider, as it registers it. */
interface RegisteredClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

/** How many oidc-connect servers of the mixed measure can sign people in (their redirect URIs are registered at start). */
export const MIXED_SERVERS = 4;

const here = (file: string) => new URL(file, import.meta.url).pathname;
export const SERVERS = {
  idp: here('../servers/idp.ts'),
  ours: here('../servers/oidc-connect.ts'),
  bare: here('../servers/bare.ts'),
  eoc: here('../servers/express-openid-connect.ts'),
  okta: here('../servers/okta.ts'),
  floor: here('../servers/floor.ts'),
};

/** One app under test, logged in as alice. */
export interface App {
  /** Short key: ours, eoc, okta, bare, floor. */
  key: string;
  label: string;
  url: string;
  child: Child;
  login: AppLoginTarget | null;
  /** Cookie header of alice's logged-in browser (empty for the bare ceiling; oidc-connect's for the floor). */
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
  floor: App;
  /** Starts another oidc-connect process on a database (the scale measure), `env` added to its environment. */
  startOurs(name: string, databaseUrl: string, env?: Record<string, string>): Promise<Child>;
  /**
   * Starts the mixed measure's oidc-connect process number `slot` (< MIXED_SERVERS) on a database:
   * one whose redirect URI the provider knows, so that people can sign in to it.
   */
  startMixedOurs(slot: number, name: string, databaseUrl: string): Promise<{ child: Child; url: string; login: AppLoginTarget }>;
  /** The cookies alice's browser sends to oidc-connect besides the session (the CSRF secret cookie). */
  oursExtraCookies: string;
  /** oidc-connect's SQLite file (the main one). */
  oursDatabase: string;
}

export function cookieHeader(browser: Browser, url: string, skip: string[] = []): string {
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

/**
 * The provider's users: the demo users (alice, bob) and the mixed measure's people (`people` of them,
 * and SOLO), so that each of its logins can be a different person.
 */
function writeUsersFile(file: string, people: number): void {
  const users = [
    ...DEMO_USERS,
    ...Array.from({ length: people }, (_, n) => ({ ...person(n), preferred_username: `person${n}`, given_name: 'Person', family_name: String(n) })),
    { ...SOLO, preferred_username: 'solo', given_name: 'Solo', family_name: 'Many-Sessions' },
  ];
  writeFileSync(file, JSON.stringify(users));
}

/**
 * oidc-connect's environment, as `npm start` runs in production: NODE_ENV=production, the Fastify
 * logger at its default level (info, so one access-log line per request), the provider given by
 * OIDC_ISSUER and a client registered there.
 */
export function oursEnvironment(input: { dir: string; port: number; databaseUrl: string; sessionSecret: string; issuer: string; client: { clientId: string; clientSecret: string } }): Record<string, string> {
  return {
    BENCH_DIR: input.dir,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(input.port),
    APP_URL: `http://127.0.0.1:${input.port}`,
    DATABASE_URL: input.databaseUrl,
    SESSION_SECRET: input.sessionSecret,
    OIDC_ISSUER: input.issuer,
    OIDC_RP_CLIENT_ID: input.client.clientId,
    OIDC_RP_CLIENT_SECRET: input.client.clientSecret,
    // Sessions from providers without refresh tokens are renewed silently every 15 min by default;
    // an hour keeps every session of the run (and the minted ones) inside one renewal period.
    OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: '3600',
  };
}

/** Response headers that belong to one answer or its connection, not to the page. */
const PER_ANSWER = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'set-cookie']);

/** Starts the provider and every app, logs alice into each app, and checks each serves her page. */
export async function startStack(dir: string, providerDir: string, options: Options, mixedPeople: number): Promise<Stack> {
  const [idpPort, oursPort, eocPort, oktaPort, barePort, floorPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const mixedPorts = await Promise.all(Array.from({ length: MIXED_SERVERS }, () => freePort()));
  const oursUrl = `http://127.0.0.1:${oursPort}`;
  const eocUrl = `http://127.0.0.1:${eocPort}`;
  const oktaUrl = `http://127.0.0.1:${oktaPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const floorUrl = `http://127.0.0.1:${floorPort}`;
  const sessionSecret = randomBytes(32).toString('base64url');
  const profArgs = (name: string) => [...options.nodeArgs, ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', join(options.cpuProfDir, name)] : [])];
  const peerClients = {
    eoc: { client_id: 'bench-express-openid-connect', client_secret: randomBytes(16).toString('hex'), redirect_uris: [`${eocUrl}/callback`] },
    okta: { client_id: 'bench-okta-oidc-middleware', client_secret: randomBytes(16).toString('hex'), redirect_uris: [`${oktaUrl}/authorization-code/callback`] },
  };
  const mixedClient: RegisteredClient = {
    client_id: 'bench-oidc-connect-mixed',
    client_secret: randomBytes(16).toString('hex'),
    redirect_uris: mixedPorts.map((port) => `http://127.0.0.1:${port}/authorization-code/callback`),
  };
  const usersFile = join(dir, 'provider-users.json');
  writeUsersFile(usersFile, mixedPeople);

  // The provider shares the load generator's core: it is idle while pages are measured, and in the
  // login measure it is part of the load, measured separately (its CPU per login). Its data lives in
  // `providerDir` (see providerDataDir()).
  const idp = await startServer('provider', SERVERS.idp, LOAD_CORE, {
    BENCH_IDP_PORT: String(idpPort),
    BENCH_APP_URL: oursUrl,
    BENCH_DATA_DIR: providerDir,
    BENCH_EXTRA_CLIENTS: JSON.stringify([...Object.values(peerClients), mixedClient]),
    BENCH_USERS_FILE: usersFile,
    ...(process.env['BENCH_IDP_JOURNAL'] ? { BENCH_IDP_JOURNAL: process.env['BENCH_IDP_JOURNAL'] } : {}),
  }, profArgs('provider'));
  const issuer = String(idp.info['issuer']);
  const endpoints = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Stack['endpoints'];

  const oursDatabase = join(dir, 'oidc-connect.sqlite');
  const oursEnv = (port: number, databaseUrl: string, client = OURS_CLIENT) => oursEnvironment({ dir, port, databaseUrl, sessionSecret, issuer, client });
  const peerEnv = (port: number, client: { client_id: string; client_secret: string }) => ({
    NODE_ENV: 'production', PORT: String(port), BENCH_ISSUER: issuer, BENCH_CLIENT_ID: client.client_id, BENCH_CLIENT_SECRET: client.client_secret, SESSION_SECRET: sessionSecret,
  });
  const [oursChild, eocChild, oktaChild] = await Promise.all([
    startServer('oidc-connect', SERVERS.ours, SERVER_CORE, oursEnv(oursPort, `sqlite:${oursDatabase}`), profArgs('oidc-connect')),
    startServer('express-openid-connect', SERVERS.eoc, SERVER_CORE, peerEnv(eocPort, peerClients.eoc), profArgs('express-openid-connect')),
    startServer('@okta/oidc-middleware', SERVERS.okta, SERVER_CORE, peerEnv(oktaPort, peerClients.okta), profArgs('okta-oidc-middleware')),
  ]);

  const logins: Record<'ours' | 'eoc' | 'okta', AppLoginTarget> = {
    ours: oursLoginTarget(oursUrl),
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

  // The ceiling serves oidc-connect's page for alice exactly as it was rendered; the floor makes
  // the same page for alice's session, with the headers oidc-connect sent with it.
  const htmlFile = join(dir, 'home.html');
  writeFileSync(htmlFile, oursLogin.html);
  const oursPage = await fetch(`${oursUrl}/`, { headers: { cookie: oursLogin.cookie } });
  await oursPage.arrayBuffer();
  const pageHeaders = Object.fromEntries([...oursPage.headers].filter(([name]) => !PER_ANSWER.has(name)));
  const aliceSecret = oursLogin.browser.cookie(oursUrl, 'oc_session')!;
  const csrf = /name="_csrf" value="([^"]*)"/.exec(oursLogin.html)?.[1] ?? '';
  const [bareChild, floorChild] = await Promise.all([
    startServer('bare Fastify', SERVERS.bare, SERVER_CORE, {
      PORT: String(barePort), BENCH_HTML_FILE: htmlFile, BENCH_ISSUER: issuer, BENCH_JWKS_URL: endpoints.jwks_uri,
    }, profArgs('bare')),
    startServer('the floor', SERVERS.floor, SERVER_CORE, {
      NODE_ENV: 'production', PORT: String(floorPort), BENCH_HTML_FILE: htmlFile, BENCH_HEADERS: JSON.stringify(pageHeaders),
      BENCH_COOKIE: 'oc_session', BENCH_SESSIONS: JSON.stringify([{ secret: aliceSecret, csrf, greeting: 'alice - alice@example.com' }]),
    }, profArgs('floor')),
  ]);

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
    bare: { key: 'bare', label: 'bare Fastify', url: bareUrl, child: bareChild, login: null, cookie: '' },
    floor: { key: 'floor', label: 'the floor (ceiling)', url: floorUrl, child: floorChild, login: null, cookie: oursLogin.cookie },
    oursExtraCookies: cookieHeader(oursLogin.browser, oursUrl, ['oc_flow', 'oc_session']),
    oursDatabase,
    async startOurs(name, databaseUrl, env = {}) {
      return startServer(name, SERVERS.ours, SERVER_CORE, { ...oursEnv(await freePort(), databaseUrl), ...env }, profArgs(name));
    },
    async startMixedOurs(slot, name, databaseUrl) {
      const port = mixedPorts[slot];
      if (port === undefined) throw new Error(`mixed server ${slot}: only ${MIXED_SERVERS} are registered at the provider`);
      const client = { clientId: mixedClient.client_id, clientSecret: mixedClient.client_secret };
      const child = await startServer(name, SERVERS.ours, SERVER_CORE, oursEnv(port, databaseUrl, client), profArgs(name));
      return { child, url: `http://127.0.0.1:${port}`, login: oursLoginTarget(`http://127.0.0.1:${port}`) };
    },
  };
  for (const app of [stack.bare, stack.floor, stack.ours, stack.okta, stack.eoc]) await checkPage(app);
  // Request logs on, as in production: every server but the bare ceiling has logged its pages.
  for (const app of [stack.floor, stack.ours, stack.okta, stack.eoc]) {
    if (!logHolds(app.child, 'request completed')) throw new Error(`${app.label} wrote no access-log line for its pages (${app.child.logFile})`);
  }
  return stack;
}

/** oidc-connect's login, on the server at `url`. */
export function oursLoginTarget(url: string): AppLoginTarget {
  return { startUrl: `${url}/authorization-code/authenticate/?next=%2F`, callbackUrl: `${url}/authorization-code/callback`, sessionCookie: 'oc_session' };
}

/** The page must greet alice (a run of redirects or error pages would measure nothing). */
export async function checkPage(app: App): Promise<void> {
  const page = await fetchText(`${app.url}/`, app.cookie ? { cookie: app.cookie } : {});
  if (page.status !== 200 || !page.body.includes(GREETING)) {
    throw new Error(`${app.label}: GET / answered ${page.status} without "${GREETING}": ${page.body.slice(0, 300)}`);
  }
}

export const OURS_CLIENT = { clientId: DEV_CLIENT_ID, clientSecret: DEV_CLIENT_SECRET };
