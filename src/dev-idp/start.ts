import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../dev-client.ts';
import { ConfigError } from '../errors.ts';
import { isMissingPackage, missingPackageMessage } from '../optional-packages.ts';
import { API_AUDIENCE, appClient, CLIENT_AUTH_METHODS } from './clients.ts';
import type { ClientAuthMethod, ClientRegistration } from './clients.ts';
import { DEMO_USERS, loadUsersFile, UserDirectory } from './demo-users.ts';
import { DevDpop } from './dpop.ts';
import type { DemoUser } from './demo-users.ts';
import { loadOrCreateKeys, publicJwks } from './keys.ts';
import { isLoopbackHost, listenLoopback } from './listen.ts';
import type { Listening } from './listen.ts';
import { openSqliteStore } from './op-storage.ts';
import type { SqliteStore } from './op-storage.ts';
import { createUserinfoHandler } from './userinfo.ts';

export const DATABASE_FILE = 'dev-idp.sqlite';

export interface DevIdpOptions {
  /** 0 picks a free port. */
  port: number;
  /** A loopback host; default `localhost` (both 127.0.0.1 and ::1). */
  host?: string;
  /** The app's public base URL, e.g. http://localhost:8080; its client's URIs are built from it. */
  appUrl: string;
  /** Where the signing keys and the provider's database live; created when missing. */
  dataDir: string;
  clientId?: string;
  clientSecret?: string;
  /**
   * How the app's client authenticates (OIDC_RP_TOKEN_AUTH_METHOD); default client_secret_basic.
   * private_key_jwt: its keys are fetched from the app's /.well-known/jwks.json.
   */
  clientAuthMethod?: ClientAuthMethod;
  /** A JSON file of users replacing the demo users (see loadUsersFile). */
  usersFile?: string;
  /** More clients, for tests and benchmarks (with their own client authentication, if they say). */
  extraClients?: ClientRegistration[];
  /** When true the provider refuses to start. Default: NODE_ENV is `production`. */
  production?: boolean;
}

export interface DevIdp {
  issuer: string;
  port: number;
  users: readonly DemoUser[];
  close(): Promise<void>;
}

export const PRODUCTION_REFUSAL = 'The development provider refuses to start when NODE_ENV=production; '
  + 'set OIDC_ISSUER (or OKTA_DOMAIN) with OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET to use a real OpenID provider.';

function checkOptions(options: DevIdpOptions): { appUrl: string; host: string } {
  const problems: string[] = [];
  const host = options.host ?? 'localhost';
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    problems.push(`DEV_IDP_PORT: ${String(options.port)} is not a port number (0-65535)`);
  }
  if (!isLoopbackHost(host)) {
    problems.push(`development provider host ${host} is not a loopback address; it serves a fixed client secret and listens on localhost only`);
  }
  let appUrl = '';
  const parsed = URL.parse(options.appUrl);
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search || parsed.hash) {
    problems.push(`APP_URL: ${options.appUrl} is not an absolute http(s) URL without query or fragment`);
  } else {
    appUrl = parsed.href.replace(/\/+$/, '');
  }
  if (!options.dataDir) problems.push('development provider data directory is empty');
  if (options.clientAuthMethod !== undefined && !(CLIENT_AUTH_METHODS as readonly string[]).includes(options.clientAuthMethod)) {
    problems.push(`OIDC_RP_TOKEN_AUTH_METHOD: the development provider takes ${CLIENT_AUTH_METHODS.join(', ')}, not ${String(options.clientAuthMethod)}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { appUrl, host };
}

/**
 * The modules built on oidc-provider, an optional peer dependency: imported when a development
 * provider starts, so that an app with a real provider runs without the package installed.
 */
async function loadOidcProvider() {
  try {
    const [op, interactions, router] = await Promise.all([import('./op.ts'), import('./interactions.ts'), import('./router.ts')]);
    return {
      createProvider: op.createProvider,
      ROUTES: op.ROUTES,
      createInteractionHandler: interactions.createInteractionHandler,
      createRouter: router.createRouter,
      ISSUER_PATH: router.ISSUER_PATH,
    };
  } catch (error) {
    if (isMissingPackage(error, 'oidc-provider')) {
      throw new ConfigError([missingPackageMessage('oidc-provider', 'The development provider runs on oidc-provider')
        + ' (or set OIDC_ISSUER or OKTA_DOMAIN to use a real provider)']);
    }
    throw error;
  }
}

/**
 * Starts the embedded "Okta": an oidc-provider with Okta's default authorization server paths
 * under `http://localhost:$PORT/oauth2/default`, the demo users, and the app's client registered.
 */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  if (options.production ?? process.env['NODE_ENV'] === 'production') {
    throw new ConfigError([PRODUCTION_REFUSAL]);
  }
  const { appUrl, host } = checkOptions(options);
  const { createProvider, createInteractionHandler, createRouter, ISSUER_PATH, ROUTES } = await loadOidcProvider();
  const userList = options.usersFile ? loadUsersFile(options.usersFile) : DEMO_USERS;
  const users = new UserDirectory(userList);
  const clients: ClientRegistration[] = [
    appClient(appUrl, options.clientId ?? DEV_CLIENT_ID, options.clientSecret ?? DEV_CLIENT_SECRET, options.clientAuthMethod),
    ...(options.extraClients ?? []),
  ];

  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadOrCreateKeys(dataDir);

  let store: SqliteStore | undefined;
  let listening: Listening | undefined;
  try {
    store = openSqliteStore(join(dataDir, DATABASE_FILE));
    // The issuer names the port, so with port 0 we must listen before the provider exists.
    let handler: ReturnType<typeof createRouter> | undefined;
    listening = await listenLoopback((req, res) => {
      if (handler) return handler(req, res);
      res.writeHead(503, { 'Retry-After': '1' }).end();
    }, host, options.port);

    const issuer = `http://localhost:${listening.port}${ISSUER_PATH}`;
    const dpop = new DevDpop();
    const provider = createProvider({ issuer, keys, store, users, clients, dpop });
    handler = createRouter({
      provider,
      handleUserinfo: createUserinfoHandler({
        issuer,
        url: `${issuer}${ROUTES.userinfo}`,
        dpop,
        audience: API_AUDIENCE,
        jwks: publicJwks(keys),
        users,
        clientIds: new Set(clients.map((client) => client.client_id)),
      }),
      handleInteraction: createInteractionHandler({ provider, users, showPasswords: !options.usersFile }),
    });

    const openStore = store;
    const openListening = listening;
    let closing: Promise<void> | undefined;
    return {
      issuer,
      port: listening.port,
      users: userList,
      close() {
        closing ??= openListening.close().finally(() => openStore.close());
        return closing;
      },
    };
  } catch (error) {
    await listening?.close();
    store?.close();
    throw error;
  }
}
