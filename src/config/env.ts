import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every variable the configuration reads. The readers of parse.ts (text, integer, boolean, list,
 * names) take only these names, so the compiler refuses a read of a variable missing here, and
 * src/config/env.test.ts checks that loadConfig reads each one: this is the list, not a copy of it.
 * An unknown variable with one of WATCHED_PREFIXES is a typo until proven otherwise (unknownVariables).
 */
export const VARIABLES = [
  'NODE_ENV', 'HOST', 'PORT', 'APP_URL', 'ALLOW_INSECURE_APP_URL', 'DATA_DIR', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'LOG_LEVEL', 'TRUST_PROXY',
  'SESSION_SECRET', 'SESSION_MAX_AGE_SECONDS', 'SESSION_IDLE_TIMEOUT_SECONDS', 'SESSION_CACHE',
  'LOGIN_RATE_LIMIT_PER_MINUTE', 'PASSWORD_HASH_CONCURRENCY', 'PASSWORD_HASH_COST', 'AUDIT_RETENTION_DAYS', 'LOCAL_REQUIRED_GROUPS',
  'LOGIN_REDIRECT_URL', 'LOGOUT_REDIRECT_URL', 'ADMIN_REQUIRE_MFA', 'MFA_ENCRYPTION_KEY',
  'DEV_IDP_PORT', 'DEV_IDP_USERS_FILE',
  'OKTA_DOMAIN', 'OKTA_AUTHORIZATION_SERVER',
  'OIDC_CONNECT_CONFIG', 'OIDC_ISSUER', 'OIDC_PROVIDER_NAME', 'OIDC_RP_CLIENT_ID', 'OIDC_RP_CLIENT_SECRET', 'OIDC_RP_SCOPES',
  'OIDC_RP_SIGN_ALGO', 'OIDC_RP_TOKEN_AUTH_METHOD', 'OIDC_RP_PRIVATE_KEY', 'OIDC_USE_PAR', 'OIDC_DPOP',
  'OIDC_OP_AUTHORIZATION_ENDPOINT', 'OIDC_OP_TOKEN_ENDPOINT', 'OIDC_OP_USER_ENDPOINT', 'OIDC_OP_JWKS_ENDPOINT', 'OIDC_OP_INTROSPECTION_ENDPOINT',
  'OIDC_USERNAME_ALGO', 'OIDC_CREATE_USER', 'OIDC_LINK_BY_EMAIL', 'OIDC_ALLOWED_EMAIL_DOMAINS', 'OIDC_REQUIRED_GROUPS',
  'OIDC_API_AUDIENCE', 'OIDC_API_ALLOWED_CLIENTS', 'OIDC_API_OPAQUE_USERINFO', 'OIDC_API_OPAQUE_LIMIT_PER_MINUTE',
  'OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS', 'OIDC_CLOCK_TOLERANCE_SECONDS', 'OIDC_HTTP_TIMEOUT_SECONDS', 'OIDC_PENDING_LOGINS_PER_IP',
  'OIDC_MFA_ACR_VALUES',
  'EMAIL_URL', 'DEFAULT_FROM_EMAIL', 'PASSWORD_RESET_TIMEOUT',
  'SCIM_TOKENS', 'SCIM_MATCH_CLAIM', 'ROLE_RULES', 'UNIVERSAL_LOGOUT_ISSUER',
  'METRICS', 'METRICS_TOKEN', 'METRICS_PORT',
  // Read by `createsuperuser --no-input` (src/cli/createsuperuser.ts), not by loadConfig.
  'OIDC_CONNECT_SUPERUSER_PASSWORD',
] as const;

export type Variable = (typeof VARIABLES)[number];

/** Prefixes of our variables: another program's variables rarely start with these, so an unknown one is most likely a typo. */
export const WATCHED_PREFIXES = ['OIDC_', 'OKTA_', 'SESSION_', 'EMAIL_', 'SCIM_'] as const;

export interface UnknownVariable {
  readonly name: string;
  /** Where it was set. */
  readonly source: 'environment' | '.env';
  /** The nearest known variable, when the name is a likely typo of it. */
  readonly didYouMean: Variable | null;
  /** One line for a log or `check`: names both. */
  readonly message: string;
}

/**
 * The process environment layered over `.env` in the working directory: a real environment
 * variable always wins, so a deployment can override a checked-in file.
 */
export function readEnv(cwd: string, processEnv: Env = process.env): Env {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnv(readFileSync(join(cwd, '.env'), 'utf8')) as Record<string, string>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { ...fromFile, ...processEnv };
}

/**
 * The variables set with a watched prefix that nothing reads: VARIABLES, and `alsoRead` (names the
 * configuration itself gives, such as a providers file's clientSecretEnv), are known.
 *
 * @example
 *   unknownVariables({ OIDC_RP_CLIENTID: 'x' }, {}).map((u) => u.message)
 *   // ['OIDC_RP_CLIENTID is set (in the environment) but oidc-connect reads no such variable, so it is ignored; did you mean OIDC_RP_CLIENT_ID?']
 */
export function unknownVariables(env: Env, processEnv: Env, alsoRead: Iterable<string> = []): UnknownVariable[] {
  const known = new Set<string>([...VARIABLES, ...alsoRead]);
  const unknown: UnknownVariable[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || !WATCHED_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const source = processEnv[name] !== undefined ? 'environment' : '.env';
    const didYouMean = nearest(name);
    unknown.push({
      name,
      source,
      didYouMean,
      message: `${name} is set (in ${source === '.env' ? 'the .env file' : 'the environment'}) but oidc-connect reads no such variable, so it is ignored`
        + (didYouMean ? `; did you mean ${didYouMean}?` : ''),
    });
  }
  return unknown;
}

/** The known variable closest to `name`, if a few edits away (a missing underscore, two swapped letters). */
function nearest(name: string): Variable | null {
  let best: Variable | null = null;
  let bestDistance = Math.min(3, Math.floor(name.length / 4));
  for (const variable of VARIABLES) {
    const distance = levenshtein(name, variable);
    if (distance <= bestDistance && (best === null || distance < bestDistance)) {
      best = variable;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edit distance (insertions, deletions, substitutions), one row at a time. */
function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
