/**
 * Small parsers that collect problems instead of throwing, so one run reports every bad variable
 * at once, one line each, naming the variable and the fix.
 */
import type { Env, Variable } from './env.ts';

export class Problems {
  readonly list: string[] = [];
  add(variable: string, value: string | undefined, fix: string): void {
    const shown = value === undefined ? variable : `${variable}=${redact(value)}`;
    this.list.push(`${shown}: ${fix}`);
  }
}

/** Hides credentials embedded in URLs (postgres://user:secret@host) before a value is printed. */
export function redact(value: string): string {
  return value.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

/** A variable of VARIABLES (src/config/env.ts), trimmed; undefined when unset or blank. */
export function text(env: Env, name: Variable): string | undefined {
  return named(env, name);
}

/** As `text`, for a variable whose name the configuration gives (a providers file's clientSecretEnv). */
export function named(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function integer(env: Env, problems: Problems, name: Variable, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.add(name, raw, `must be a whole number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

export function boolean(env: Env, problems: Problems, name: Variable, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const lowered = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
  if (['false', '0', 'no', 'off'].includes(lowered)) return false;
  problems.add(name, raw, 'must be true or false');
  return fallback;
}

/** One of a few fixed values; undefined when unset (or wrong, after naming the allowed ones). */
export function choice<T extends string>(problems: Problems, name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined || (allowed as readonly string[]).includes(raw)) return raw as T | undefined;
  problems.add(name, raw, `must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}`);
  return undefined;
}

/** Comma- or space-separated list, empty entries dropped. */
export function list(env: Env, name: Variable): string[] {
  return (text(env, name) ?? '').split(/[\s,]+/).filter(Boolean);
}

/** Comma-separated names that may hold spaces (Django's group names do), each trimmed, empty ones dropped. */
export function names(env: Env, name: Variable): string[] {
  return (text(env, name) ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * An issuer URL, without a trailing slash. Its discovery URL is refused: openid-client skips the
 * issuer comparison for a .well-known URL, so a wrong issuer would pass unnoticed.
 */
export function issuerUrl(problems: Problems, name: string, raw: string): string | undefined {
  const url = httpsUrl(problems, name, raw);
  if (url === undefined) return undefined;
  const wellKnown = url.pathname.indexOf('/.well-known/');
  if (wellKnown >= 0) {
    const issuer = `${url.origin}${url.pathname.slice(0, wellKnown)}`;
    problems.add(name, raw, `must be the issuer, not its discovery URL: use ${issuer}`);
    return undefined;
  }
  return url.href.replace(/\/$/, '');
}

/** An http(s) URL; plain http only on loopback, as the contract requires for issuers. */
export function httpsUrl(problems: Problems, name: string, raw: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.add(name, raw, 'must be an absolute URL such as https://example.okta.com/oauth2/default');
    return undefined;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    problems.add(name, raw, 'must use https:// (plain http:// is allowed only for localhost, 127.0.0.0/8 and [::1])');
    return undefined;
  }
  return url;
}

/** A bearer secret set in a variable (SCIM_TOKENS, METRICS_TOKEN) is a long random string: at least this many characters. */
export const MIN_BEARER_SECRET_LENGTH = 32;
const BEARER_CHARACTERS = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * What is wrong with a bearer secret from a variable, as the end of its problem line, or undefined:
 * too short, or with characters an Authorization header can't carry (RFC 6750's b64token).
 */
export function bearerSecretProblem(token: string): string | undefined {
  if (token.length < MIN_BEARER_SECRET_LENGTH) return `is shorter than ${MIN_BEARER_SECRET_LENGTH} characters; generate one with: openssl rand -base64 32`;
  if (!BEARER_CHARACTERS.test(token)) return "has characters a bearer token can't carry; use letters, digits and - . _ ~ + / (openssl rand -base64 32 makes one)";
  return undefined;
}
