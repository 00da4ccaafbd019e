import { isScopeName } from './parse.ts';

/** A verified bearer token, as routes see it on `request.bearer`. */
export interface BearerToken {
  /** How it was checked: locally (a JWT) or by asking the provider (an opaque token). */
  readonly verifiedBy: 'jwt' | 'introspection' | 'userinfo';
  /** The configured provider's id. */
  readonly provider: string;
  readonly issuer: string;
  readonly subject: string;
  /** `client_id` (RFC 9068, RFC 7662) or Okta's `cid`, when the token says. */
  readonly clientId: string | undefined;
  /** Granted scopes, from `scp` (array or string, as Okta and Entra ID send) and `scope`. */
  readonly scopes: readonly string[];
  /** Epoch ms when the token expires, when known. */
  readonly expiresAt: number | undefined;
  /** The verified claims (JWT payload, introspection answer, or userinfo). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Granted scopes from `scp` (Okta: array; Entra ID: space-separated string) and `scope` (RFC 9068/7662). */
export function scopesOf(claims: Readonly<Record<string, unknown>>): string[] {
  const scopes = new Set<string>();
  const add = (value: unknown): void => {
    const items: unknown[] = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const item of items) if (isScopeName(item)) scopes.add(item);
  };
  add(claims['scp']);
  add(claims['scope']);
  return [...scopes];
}

/** The required scopes that `granted` lacks. */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  const have = new Set(granted);
  return required.filter((scope) => !have.has(scope));
}

export function clientIdOf(claims: Readonly<Record<string, unknown>>): string | undefined {
  const id = claims['client_id'] ?? claims['cid'];
  return typeof id === 'string' ? id : undefined;
}

/** Epoch ms of an `exp` claim in seconds, when there is one. */
export function expiresAtOf(claims: Readonly<Record<string, unknown>>): number | undefined {
  const exp = claims['exp'];
  return typeof exp === 'number' ? exp * 1000 : undefined;
}
