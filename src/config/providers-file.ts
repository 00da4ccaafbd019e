import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Env } from './env.ts';
import { readClientKeys } from './client-keys.ts';
import { Problems, choice, issuerUrl, named, text } from './parse.ts';
import type { ProviderConfig, UsernameAlgo } from './types.ts';
import { PAR_MODES, TOKEN_AUTH_METHODS, USERNAME_ALGOS } from './types.ts';

export const PROVIDERS_FILE = 'oidc-connect.config.json';

const ID = /^[a-z0-9][a-z0-9_-]{0,49}$/;

/**
 * Several providers at once, from `oidc-connect.config.json` (or OIDC_CONNECT_CONFIG):
 * `{ "providers": [{ "id", "name", "issuer", "clientId", "clientSecret" | "clientSecretEnv",
 * "scopes"?, "usernameAlgo"?, "signAlgs"?, "tokenAuthMethod"?, "privateKey"?, "par"?, "dpop"? }] }`. `clientSecretEnv`
 * names an environment variable, so the file can be committed without the secret. `privateKey`,
 * `par` and `dpop` are a provider's OIDC_RP_PRIVATE_KEY (key files, relative to the working
 * directory), OIDC_USE_PAR and OIDC_DPOP. Returns null when there is no file.
 */
export function readProvidersFile(cwd: string, env: Env, problems: Problems, defaults: { usernameAlgo: UsernameAlgo; scopes: readonly string[] }): ProviderConfig[] | null {
  const explicit = text(env, 'OIDC_CONNECT_CONFIG');
  const path = resolve(cwd, explicit ?? PROVIDERS_FILE);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && explicit === undefined) return null;
    problems.add('OIDC_CONNECT_CONFIG', explicit ?? PROVIDERS_FILE, `cannot read ${path}: ${(error as Error).message}`);
    return [];
  }
  const where = explicit ?? PROVIDERS_FILE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    problems.add(where, undefined, `is not valid JSON (${(error as Error).message})`);
    return [];
  }
  const list = (parsed as { providers?: unknown })?.providers;
  if (!Array.isArray(list) || list.length === 0) {
    problems.add(where, undefined, 'must be an object with a non-empty "providers" array');
    return [];
  }
  const providers: ProviderConfig[] = [];
  const seen = new Set<string>();
  list.forEach((entry: unknown, index) => {
    const at = `${where} providers[${index}]`;
    const e = (entry ?? {}) as Record<string, unknown>;
    const str = (key: string): string | undefined => (typeof e[key] === 'string' && e[key] !== '' ? (e[key] as string) : undefined);
    const id = str('id');
    if (!id || !ID.test(id)) problems.add(`${at}.id`, undefined, 'is required: lower-case letters, digits, - and _ (it appears in ?provider=)');
    else if (seen.has(id)) problems.add(`${at}.id`, id, 'is used twice; every provider needs its own id');
    if (id) seen.add(id);
    const issuerRaw = str('issuer');
    const issuer = issuerRaw === undefined
      ? (problems.add(`${at}.issuer`, undefined, 'is required, e.g. https://dev-123456.okta.com/oauth2/default'), undefined)
      : issuerUrl(problems, `${at}.issuer`, issuerRaw);
    const clientId = str('clientId');
    if (!clientId) problems.add(`${at}.clientId`, undefined, "is required; copy it from the provider's app settings");
    const secretEnv = str('clientSecretEnv');
    const clientSecret = str('clientSecret') ?? (secretEnv ? named(env, secretEnv) : undefined);
    const keyFiles = str('privateKey');
    const privateKeys = keyFiles === undefined ? [] : readClientKeys(problems, `${at}.privateKey`, keyFiles, cwd);
    const tokenAuthMethod = e.tokenAuthMethod === undefined
      ? (keyFiles !== undefined ? 'private_key_jwt' : undefined)
      : choice(problems, `${at}.tokenAuthMethod`, String(e.tokenAuthMethod), TOKEN_AUTH_METHODS);
    if (tokenAuthMethod === 'private_key_jwt' && keyFiles === undefined) {
      problems.add(`${at}.privateKey`, undefined, 'is required with tokenAuthMethod private_key_jwt; create a key with: npx oidc-connect keygen');
    }
    const secretNeeded = tokenAuthMethod !== 'private_key_jwt';
    if (!clientSecret && secretNeeded) {
      problems.add(`${at}.clientSecret`, undefined, secretEnv
        ? `the variable ${secretEnv} named by clientSecretEnv is not set`
        : 'is required (or clientSecretEnv, naming an environment variable that holds it)');
    }
    const scopes = Array.isArray(e.scopes) && e.scopes.every((s) => typeof s === 'string') ? (e.scopes as string[]) : undefined;
    if (e.scopes !== undefined && (!scopes || !scopes.includes('openid'))) problems.add(`${at}.scopes`, undefined, 'must be an array of strings including "openid"');
    const usernameAlgo = e.usernameAlgo ?? defaults.usernameAlgo;
    if (!(USERNAME_ALGOS as readonly unknown[]).includes(usernameAlgo)) problems.add(`${at}.usernameAlgo`, String(usernameAlgo), `must be one of ${USERNAME_ALGOS.join(', ')}`);
    const signAlgs = Array.isArray(e.signAlgs) ? (e.signAlgs as unknown[]).filter((a): a is string => typeof a === 'string') : [];
    if (signAlgs.some((a) => a.toLowerCase() === 'none' || /^HS/i.test(a))) problems.add(`${at}.signAlgs`, undefined, 'none and HS* are never accepted; use RS256');
    const par = e.par === undefined ? 'auto' : choice(problems, `${at}.par`, String(e.par), PAR_MODES);
    if (e.dpop !== undefined && typeof e.dpop !== 'boolean') problems.add(`${at}.dpop`, String(e.dpop), 'must be true or false');
    if (id && issuer && clientId && (clientSecret || !secretNeeded)) {
      const secretSetting = str('clientSecret') === undefined ? secretEnv : `${at}.clientSecret`;
      providers.push({
        id, name: str('name') ?? id, issuer, clientId, ...(clientSecret ? { clientSecret } : {}),
        scopes: scopes ?? defaults.scopes, signAlgs, usernameAlgo: usernameAlgo as UsernameAlgo, endpoints: {},
        ...(tokenAuthMethod && { tokenAuthMethod }),
        privateKeys, par: par ?? 'auto', dpop: e.dpop === true,
        settings: { issuer: `${at}.issuer`, credentials: `${at}.clientId / ${secretNeeded ? secretSetting : `${at}.privateKey`}` },
      });
    }
  });
  return providers;
}
