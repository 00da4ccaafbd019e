import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../dev-client.ts';
import { ConfigError } from '../errors.ts';
import { ASYMMETRIC_ALGORITHMS } from './algorithms.ts';
import { readClientKeys } from './client-keys.ts';
import { readEnv, unknownVariables, type Env, type Variable } from './env.ts';
import { roleRules, scimMatchClaim, scimTokenHashes, universalLogoutIssuer } from './enterprise.ts';
import { parseMail } from './mail.ts';
import { passwordHashCost } from './password-hash-cost.ts';
import { parseMetrics } from './metrics.ts';
import { oktaIssuer } from './okta.ts';
import { Problems, boolean, choice, httpsUrl, integer, isLoopbackHost, issuerUrl, list, names, redact, text } from './parse.ts';
import { PROVIDERS_FILE, readProvidersFile } from './providers-file.ts';
import { estimatedEntropyBits, MIN_SECRET_BITS } from './secret-strength.ts';
import { parseTrustProxy } from './trust-proxy.ts';
import type { ClientKey, Config, DatabaseConfig, ProviderConfig, TokenAuthMethod, UsernameAlgo } from './types.ts';
import { PAR_MODES, TOKEN_AUTH_METHODS, USERNAME_ALGOS } from './types.ts';

export type { UnknownVariable } from './env.ts';
export type {
  ClientKey, ClientKeyAlgorithm, Config, DatabaseConfig, MailConfig, MetricsConfig, ParMode, ProviderConfig, RoleRule, SmtpSettings, TokenAuthMethod, UsernameAlgo,
} from './types.ts';

const DEFAULT_SCOPES = ['openid', 'email', 'profile'];

export interface LoadOptions {
  cwd?: string;
  env?: Env;
}

const SIGN_ALGS = new Set(ASYMMETRIC_ALGORITHMS);
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Reads the environment (and `.env`) once, validates every variable, and returns a deeply frozen
 * configuration. Throws ConfigError listing one line per problem. It reads, and writes nothing:
 * without SESSION_SECRET in development, `sessionSecret` is '' until the server starts and
 * `withSessionSecret` reads or makes the one kept in DATA_DIR.
 *
 * @example
 *   const config = loadConfig({ env: { DATABASE_URL: 'sqlite:./data/app.sqlite', SESSION_SECRET: secret } });
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const processEnv = options.env ?? process.env;
  // Every name read is noted: those a providers file names (clientSecretEnv) are known variables too.
  const read = new Set<string>();
  const merged = readEnv(cwd, processEnv);
  const env: Env = new Proxy(merged, {
    get: (target, name) => {
      if (typeof name === 'string') read.add(name);
      return Reflect.get(target, name);
    },
  });
  const problems = new Problems();

  const production = text(env, 'NODE_ENV') === 'production';
  const port = integer(env, problems, 'PORT', 8080, 0, 65535);
  const host = text(env, 'HOST') ?? 'localhost';
  const appUrl = parseAppUrl(env, problems, port, production);
  const dataDir = resolve(cwd, text(env, 'DATA_DIR') ?? 'data');
  const database = parseDatabase(env, problems, cwd);

  const secret = text(env, 'SESSION_SECRET');
  if (secret !== undefined && secret.length < 32) {
    problems.add('SESSION_SECRET', undefined, 'must be at least 32 characters; generate one with: openssl rand -base64 48');
  }
  if (secret === undefined && production) {
    problems.add('SESSION_SECRET', undefined, 'is required when NODE_ENV=production; generate one with: openssl rand -base64 48');
  }
  const secretBits = secret === undefined ? 0 : estimatedEntropyBits(secret);
  if (production && secret !== undefined && secret.length >= 32 && secretBits < MIN_SECRET_BITS) {
    problems.add('SESSION_SECRET', undefined, `is too guessable (about ${secretBits} bits; at least ${MIN_SECRET_BITS} are needed, counted as its length without repeats times log2 of the characters it draws on); generate one with: openssl rand -base64 48`);
  }

  const devIdpPort = integer(env, problems, 'DEV_IDP_PORT', 9000, 0, 65535);
  const usernameAlgo = text(env, 'OIDC_USERNAME_ALGO') ?? 'claims';
  if (!(USERNAME_ALGOS as readonly string[]).includes(usernameAlgo)) {
    problems.add('OIDC_USERNAME_ALGO', usernameAlgo, `must be one of ${USERNAME_ALGOS.join(', ')}`);
  }
  const fromFile = readProvidersFile(cwd, env, problems, { usernameAlgo: usernameAlgo as UsernameAlgo, scopes: DEFAULT_SCOPES });
  const fromEnv = parseProviders(env, problems, cwd, production && fromFile === null, fromFile === null ? devIdpPort : null);
  const providers = [
    ...(fromFile ?? []),
    ...fromEnv.providers.map((p) => ({ ...p, usernameAlgo: usernameAlgo as UsernameAlgo })),
  ];
  if (fromEnv.providers.length > 0 && fromFile?.some((p) => p.id === 'default')) {
    problems.add(PROVIDERS_FILE, undefined, `the id "default" is taken by the provider set with OIDC_ISSUER/OKTA_DOMAIN; rename yours`);
  }
  const devIdp = fromEnv.devIdp;

  const mfa = parseMfa(env, problems, production);
  const clockToleranceSeconds = integer(env, problems, 'OIDC_CLOCK_TOLERANCE_SECONDS', 30, 0, 60);
  const trustProxy = parseTrustProxy(text(env, 'TRUST_PROXY'), problems);
  const logLevel = text(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) problems.add('LOG_LEVEL', logLevel, `must be one of ${[...LOG_LEVELS].join(', ')}`);

  const config: Config = {
    production,
    host,
    port,
    appUrl: appUrl ?? `http://localhost:${port}`,
    secureCookies: (appUrl ?? '').startsWith('https:'),
    dataDir,
    database,
    sessionSecret: '',
    session: {
      maxAgeSeconds: integer(env, problems, 'SESSION_MAX_AGE_SECONDS', 14 * 24 * 3600, 60, 366 * 24 * 3600),
      idleTimeoutSeconds: integer(env, problems, 'SESSION_IDLE_TIMEOUT_SECONDS', 2 * 24 * 3600, 60, 366 * 24 * 3600),
      cache: choice(problems, 'SESSION_CACHE', text(env, 'SESSION_CACHE')?.toLowerCase(), ['on', 'off']) !== 'off',
    },
    lockout: { maxFailures: 10, windowSeconds: 15 * 60 },
    passwordChecks: {
      perIpPerMinute: integer(env, problems, 'LOGIN_RATE_LIMIT_PER_MINUTE', 30, 1, 100_000),
      hashConcurrency: integer(env, problems, 'PASSWORD_HASH_CONCURRENCY', 2, 1, 64),
    },
    pendingLoginsPerIp: integer(env, problems, 'OIDC_PENDING_LOGINS_PER_IP', 1000, 1, 1_000_000),
    audit: { retentionDays: integer(env, problems, 'AUDIT_RETENTION_DAYS', 90, 0, 36500) },
    providers,
    devIdp: devIdp ? { port: devIdp, ...optional('usersFile', text(env, 'DEV_IDP_USERS_FILE')) } : null,
    provisioning: {
      createUser: boolean(env, problems, 'OIDC_CREATE_USER', true),
      linkByEmail: boolean(env, problems, 'OIDC_LINK_BY_EMAIL', true),
      allowedEmailDomains: list(env, 'OIDC_ALLOWED_EMAIL_DOMAINS').map((d) => d.toLowerCase().replace(/^@/, '')),
      requiredGroups: list(env, 'OIDC_REQUIRED_GROUPS'),
    },
    localRequiredGroups: names(env, 'LOCAL_REQUIRED_GROUPS'),
    apiAudience: text(env, 'OIDC_API_AUDIENCE') ?? 'api://default',
    scim: { tokenHashes: scimTokenHashes(env, problems), matchClaim: scimMatchClaim(env, problems) },
    roleRules: roleRules(env, problems, cwd),
    universalLogoutIssuer: universalLogoutIssuer(env, problems, providers[0]?.issuer),
    opaqueTokens: {
      allowedClients: list(env, 'OIDC_API_ALLOWED_CLIENTS'),
      userinfoFallback: boolean(env, problems, 'OIDC_API_OPAQUE_USERINFO', false),
      limitPerMinute: integer(env, problems, 'OIDC_API_OPAQUE_LIMIT_PER_MINUTE', 30, 1, 100_000),
    },
    renewIdTokenExpirySeconds: integer(env, problems, 'OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS', 900, 30, 366 * 24 * 3600),
    loginRedirectUrl: redirectTarget(env, problems, 'LOGIN_REDIRECT_URL'),
    logoutRedirectUrl: redirectTarget(env, problems, 'LOGOUT_REDIRECT_URL'),
    mfa,
    clockToleranceSeconds,
    httpTimeoutMs: integer(env, problems, 'OIDC_HTTP_TIMEOUT_SECONDS', 10, 1, 120) * 1000,
    trustProxy,
    logLevel,
    mail: parseMail(env, problems, { cwd, production, appUrl: appUrl ?? `http://localhost:${port}`, dataDir }),
    metrics: parseMetrics(env, problems, { production, appPort: port }),
    unknownVariables: [],
  };
  // Checked here so that a bad value stops the start in one line; src/accounts/passwords.ts applies it.
  passwordHashCost(env, problems);

  if (problems.list.length > 0) throw new ConfigError(problems.list);
  return deepFreeze({ ...config, sessionSecret: secret ?? '', unknownVariables: unknownVariables(merged, processEnv, read) });
}

/**
 * The configuration a server starts with: `config` itself when it has a session secret; in
 * development without SESSION_SECRET, a copy (frozen too) with the random secret kept in
 * DATA_DIR/session-secret, made at the first start so that sessions and form tokens survive
 * restarts. The one step of starting that writes a file, which is why loadConfig() does not.
 *
 * @example
 *   const config = withSessionSecret(loadConfig()); // what createRuntime and startServer do
 */
export function withSessionSecret(config: Config): Config {
  if (config.sessionSecret !== '') return config;
  if (config.production) {
    throw new ConfigError(['SESSION_SECRET: is required when NODE_ENV=production; generate one with: openssl rand -base64 48']);
  }
  return deepFreeze({ ...config, sessionSecret: developmentSecret(config.dataDir) });
}

/**
 * Second factors: ADMIN_REQUIRE_MFA (on by default in production), OIDC_MFA_ACR_VALUES, and
 * MFA_ENCRYPTION_KEY, which seals TOTP secrets instead of SESSION_SECRET when set, held to the same
 * length and, in production, the same strength.
 */
function parseMfa(env: Env, problems: Problems, production: boolean): Config['mfa'] {
  const key = text(env, 'MFA_ENCRYPTION_KEY');
  if (key !== undefined && key.length < 32) {
    problems.add('MFA_ENCRYPTION_KEY', undefined, 'must be at least 32 characters; generate one with: openssl rand -base64 48');
  } else if (key !== undefined && production && estimatedEntropyBits(key) < MIN_SECRET_BITS) {
    problems.add('MFA_ENCRYPTION_KEY', undefined, `is too guessable (about ${estimatedEntropyBits(key)} bits; at least ${MIN_SECRET_BITS} are needed); generate one with: openssl rand -base64 48`);
  }
  const acrValues = list(env, 'OIDC_MFA_ACR_VALUES');
  for (const value of acrValues) {
    // They go into authorization URLs and WWW-Authenticate challenges as they are.
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(value)) problems.add('OIDC_MFA_ACR_VALUES', value, 'each value must be printable ASCII without quotes or backslashes, such as urn:okta:loa:2fa:any');
  }
  return {
    adminRequired: boolean(env, problems, 'ADMIN_REQUIRE_MFA', production),
    acrValues,
    encryptionKey: key ?? null,
  };
}

/** Django's LOGIN_REDIRECT_URL and LOGOUT_REDIRECT_URL: a path on this site, or an absolute http(s) URL. */
function redirectTarget(env: Env, problems: Problems, name: Variable): string {
  const raw = text(env, name);
  if (raw === undefined) return '/';
  if (/^\/(?![/\\])/.test(raw) || (/^https?:\/\/[^/]/.test(raw) && URL.canParse(raw))) return raw;
  problems.add(name, raw, 'must be a path on this site such as /dashboard/, or an absolute URL such as https://www.example.com/');
  return '/';
}

function parseAppUrl(env: Env, problems: Problems, port: number, production: boolean): string | undefined {
  const raw = text(env, 'APP_URL');
  if (raw === undefined) return `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.add('APP_URL', raw, 'must be an absolute URL such as https://app.example.com');
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.add('APP_URL', raw, 'must start with https:// (or http:// for local development)');
    return undefined;
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username) {
    problems.add('APP_URL', raw, 'must be an origin only, such as https://app.example.com (no path, query or credentials)');
    return undefined;
  }
  // Over plain http the session cookie crosses the network in clear text.
  const insecureAllowed = boolean(env, problems, 'ALLOW_INSECURE_APP_URL', false);
  if (production && url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !insecureAllowed) {
    problems.add('APP_URL', raw, 'must use https:// when NODE_ENV=production (session cookies would cross the network in clear text); give the public https:// address even behind a TLS proxy, or set ALLOW_INSECURE_APP_URL=true to accept it');
    return undefined;
  }
  return url.origin;
}

function parseDatabase(env: Env, problems: Problems, cwd: string): DatabaseConfig {
  const raw = text(env, 'DATABASE_URL') ?? 'sqlite:./data/oidc-connect.sqlite';
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') {
      problems.add('DATABASE_URL', raw, 'needs a file path, such as sqlite:./data/oidc-connect.sqlite');
    }
    if (path === ':memory:') return { kind: 'sqlite', file: ':memory:', display: 'sqlite in memory' };
    const file = isAbsolute(path) ? path : resolve(cwd, path);
    const shown = relative(cwd, file);
    // Only the default ./data is created when missing; any other directory must exist.
    const createDirectory = dirname(file) === resolve(cwd, 'data');
    return { kind: 'sqlite', file, display: `SQLite file ${shown.startsWith('..') ? file : `./${shown}`}`, createDirectory };
  }
  if (/^postgres(ql)?:\/\//.test(raw)) {
    const poolSize = integer(env, problems, 'DATABASE_POOL_SIZE', 10, 1, 1000);
    return { kind: 'postgres', url: raw, poolSize, display: `PostgreSQL ${redact(raw)}` };
  }
  problems.add('DATABASE_URL', raw, 'unsupported database; use sqlite:./data/oidc-connect.sqlite or postgres://user:password@host:5432/db');
  return { kind: 'sqlite', file: ':memory:', display: '' };
}

type ProviderFromEnv = Omit<ProviderConfig, 'usernameAlgo'>;

/**
 * OIDC_RP_TOKEN_AUTH_METHOD with OIDC_RP_PRIVATE_KEY. A key without a method means private_key_jwt;
 * a key with a secret method is only published (/.well-known/jwks.json), as when moving to keys.
 */
function clientAuthentication(env: Env, problems: Problems, cwd: string): {
  tokenAuthMethod?: TokenAuthMethod;
  privateKeys: ClientKey[];
  /** The settings that hold the client's credentials, for messages. */
  credentials: string;
} {
  const method = choice(problems, 'OIDC_RP_TOKEN_AUTH_METHOD', text(env, 'OIDC_RP_TOKEN_AUTH_METHOD'), TOKEN_AUTH_METHODS);
  const files = text(env, 'OIDC_RP_PRIVATE_KEY');
  const privateKeys = files === undefined ? [] : readClientKeys(problems, 'OIDC_RP_PRIVATE_KEY', files, cwd);
  const tokenAuthMethod = method ?? (files !== undefined ? 'private_key_jwt' : undefined);
  if (tokenAuthMethod === 'private_key_jwt' && files === undefined) {
    problems.add('OIDC_RP_PRIVATE_KEY', undefined, 'is required with OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt; create a key with: npx oidc-connect keygen');
  }
  return {
    ...optional('tokenAuthMethod', tokenAuthMethod),
    privateKeys,
    credentials: `OIDC_RP_CLIENT_ID / ${tokenAuthMethod === 'private_key_jwt' ? 'OIDC_RP_PRIVATE_KEY' : 'OIDC_RP_CLIENT_SECRET'}`,
  };
}

function parseProviders(
  env: Env,
  problems: Problems,
  cwd: string,
  production: boolean,
  /** null when a providers file exists: then no provider settings simply means no env provider. */
  devIdpPort: number | null,
): { providers: ProviderFromEnv[]; devIdp: number | null } {
  const explicitName = text(env, 'OIDC_PROVIDER_NAME');
  const name = explicitName ?? 'Okta';
  const scopes = list(env, 'OIDC_RP_SCOPES');
  if (scopes.length > 0 && !scopes.includes('openid')) {
    problems.add('OIDC_RP_SCOPES', scopes.join(' '), "must include openid, for example 'openid email profile'");
  }
  const signAlgs = list(env, 'OIDC_RP_SIGN_ALGO');
  for (const alg of signAlgs) {
    if (alg.toLowerCase() === 'none') problems.add('OIDC_RP_SIGN_ALGO', alg, 'unsigned ID tokens (none) are never accepted; use RS256');
    else if (/^HS/i.test(alg)) problems.add('OIDC_RP_SIGN_ALGO', alg, 'shared-secret algorithms are not supported, because ID token signatures are checked against the provider\'s public keys; use RS256');
    else if (!SIGN_ALGS.has(alg)) problems.add('OIDC_RP_SIGN_ALGO', alg, `unknown algorithm; use one of ${[...SIGN_ALGS].join(', ')}`);
  }
  const endpoints: Record<string, string> = {};
  for (const [key, variable] of [
    ['authorization', 'OIDC_OP_AUTHORIZATION_ENDPOINT'],
    ['token', 'OIDC_OP_TOKEN_ENDPOINT'],
    ['userinfo', 'OIDC_OP_USER_ENDPOINT'],
    ['jwks', 'OIDC_OP_JWKS_ENDPOINT'],
    ['introspection', 'OIDC_OP_INTROSPECTION_ENDPOINT'],
  ] as const) {
    const raw = text(env, variable);
    if (raw !== undefined && httpsUrl(problems, variable, raw)) endpoints[key] = raw;
  }
  const { credentials, ...auth } = clientAuthentication(env, problems, cwd);
  const common = {
    id: 'default',
    name,
    scopes: scopes.length > 0 ? scopes : DEFAULT_SCOPES,
    signAlgs,
    endpoints,
    ...auth,
    par: choice(problems, 'OIDC_USE_PAR', text(env, 'OIDC_USE_PAR')?.toLowerCase(), PAR_MODES) ?? 'auto',
    dpop: boolean(env, problems, 'OIDC_DPOP', false),
  };

  const issuerRaw = text(env, 'OIDC_ISSUER');
  const oktaDomain = text(env, 'OKTA_DOMAIN');
  let issuer: string | undefined;
  if (issuerRaw !== undefined) {
    issuer = issuerUrl(problems, 'OIDC_ISSUER', issuerRaw);
  } else if (oktaDomain !== undefined) {
    issuer = oktaIssuer(env, problems, oktaDomain);
  } else if (text(env, 'OKTA_AUTHORIZATION_SERVER') !== undefined) {
    problems.add('OKTA_AUTHORIZATION_SERVER', text(env, 'OKTA_AUTHORIZATION_SERVER'), 'is used only with OKTA_DOMAIN; set OKTA_DOMAIN too');
  }

  if (issuerRaw !== undefined || oktaDomain !== undefined) {
    const clientId = text(env, 'OIDC_RP_CLIENT_ID');
    const clientSecret = text(env, 'OIDC_RP_CLIENT_SECRET');
    const secretNeeded = auth.tokenAuthMethod !== 'private_key_jwt';
    if (clientId === undefined) {
      problems.add('OIDC_RP_CLIENT_ID', undefined, "is required with OIDC_ISSUER or OKTA_DOMAIN; copy the Client ID from your provider's app settings");
    }
    if (clientSecret === undefined && secretNeeded) {
      problems.add('OIDC_RP_CLIENT_SECRET', undefined, "is required with OIDC_ISSUER or OKTA_DOMAIN; copy the Client secret from your provider's app settings (or use a key: OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt)");
    }
    if (issuer === undefined || clientId === undefined || (clientSecret === undefined && secretNeeded)) return { providers: [], devIdp: null };
    const settings = { issuer: issuerRaw !== undefined ? 'OIDC_ISSUER' : 'OKTA_DOMAIN', credentials };
    // Any provider, unnamed: messages say which one by its host, not "Okta"; the button stays "Log In with Okta".
    const byHost = issuerRaw !== undefined && explicitName === undefined ? { name: new URL(issuer).host, label: name } : {};
    return { providers: [{ ...common, issuer, clientId, ...optional('clientSecret', clientSecret), settings, ...byHost }], devIdp: null };
  }

  if (devIdpPort === null) return { providers: [], devIdp: null };
  if (production) {
    problems.add('OIDC_ISSUER', undefined, 'is required when NODE_ENV=production (the built-in development provider is for development only); set OIDC_ISSUER or OKTA_DOMAIN');
    return { providers: [], devIdp: null };
  }
  return {
    providers: [{
      ...common,
      issuer: `http://localhost:${devIdpPort}/oauth2/default`,
      clientId: text(env, 'OIDC_RP_CLIENT_ID') ?? DEV_CLIENT_ID,
      clientSecret: text(env, 'OIDC_RP_CLIENT_SECRET') ?? DEV_CLIENT_SECRET,
      settings: { issuer: 'DEV_IDP_PORT', credentials },
    }],
    devIdp: devIdpPort,
  };
}

/** Development only: a random secret kept in ./data so sessions survive restarts. */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, 'session-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    mkdirSync(dataDir); // one level only: Node's recursive mkdir spins forever on a path under /proc
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError([`DATA_DIR: cannot create ${dataDir} for the development session secret (${(error as Error).message}); create it, or set SESSION_SECRET`], { cause: error });
    }
  }
  const secret = randomBytes(48).toString('base64url');
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process (the CLI next to a server) created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw error;
  }
  return secret;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
