/**
 * Bearer tokens on routes, for every framework: `bearerCheck` runs src/rp/bearer/ on a request's
 * Authorization header and client IP, and turns refusals into their RFC 6750 §3 answer (a
 * `WWW-Authenticate` challenge), or 429 with Retry-After when the IP sent too many unknown opaque
 * tokens. A provider that is down is thrown, for the app's error handler (502/504). `bearerGuard`
 * is its Fastify face (`app.requireBearer`); src/web/express/ has the Express one.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  BearerError, DPOP_MODES, isScopeName, TooManyTokenChecks, type BearerAuthentication, type BearerAuthenticator, type BearerRequirements,
} from '../rp/bearer/index.ts';

export interface BearerGuardOptions extends Omit<BearerRequirements, 'acr'> {
  /**
   * The `acr` the token must show, or one of several: `requireBearer({ acr: 'urn:okta:loa:2fa:any' })`.
   * Otherwise 401 `insufficient_user_authentication` (RFC 9470) with `acr_values`, so the client can ask
   * the user to sign in again with them.
   */
  acr?: string | readonly string[];
  /**
   * When the request carries no Bearer credentials at all (no Authorization header, or another
   * scheme), go on to the route instead of answering 401: request.user stays the session user, if
   * any. A Bearer header, when present, is always checked and wins over the session.
   */
  allowSession?: boolean;
}

/** A refused request as it goes on the wire: JSON `{ error, message }`, never cached. */
export class BearerRefusal {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { readonly error: string; readonly message: string };
  /** The request log's line (the token itself never appears). */
  readonly log: readonly [fields: Record<string, unknown>, message: string];

  constructor(error: BearerError | TooManyTokenChecks, ip: string) {
    this.status = error.status;
    this.body = { error: error.code, message: error.message };
    if (error instanceof BearerError) {
      this.headers = { 'www-authenticate': error.challenge(), 'cache-control': 'no-store' };
      this.log = [{ code: error.code, reason: error.message }, 'bearer token refused'];
    } else {
      this.headers = { 'retry-after': String(error.retryAfterSeconds), 'cache-control': 'no-store' };
      this.log = [{ code: error.code, ip }, 'too many unknown bearer tokens from one address'];
    }
  }
}

/** What the check needs of a request, whichever the framework: its credentials and what a DPoP proof must match. */
export interface BearerRequest {
  authorization: string | undefined;
  /** The DPoP header (RFC 9449). */
  dpop: string | undefined;
  method: string;
  /** The path and query, as received (the proof's URL is APP_URL and this path). */
  path: string;
  /** The client's address (TRUST_PROXY applied). */
  ip: string;
}

/** Checks one request: its authentication, null (no Bearer credentials, allowSession), or its refusal. */
export type BearerCheck = (authenticator: BearerAuthenticator, request: BearerRequest) => Promise<BearerAuthentication | null | BearerRefusal>;

/** Validates the route's options once, where it is declared, and returns the check its requests run. */
export function bearerCheck(options: BearerGuardOptions = {}): BearerCheck {
  for (const scope of options.scopes ?? []) {
    if (!isScopeName(scope)) throw new TypeError(`requireBearer: ${JSON.stringify(scope)} is not a valid scope name`);
  }
  const acr = typeof options.acr === 'string' ? [options.acr] : options.acr ?? [];
  for (const value of acr) {
    // It goes into the challenge's acr_values as it is: an RFC 6750 quotable string without spaces.
    if (!isScopeName(value)) throw new TypeError(`requireBearer: ${JSON.stringify(value)} is not a valid acr value`);
  }
  if (options.roles !== undefined && !Array.isArray(options.roles)) throw new TypeError('requireBearer: roles must be an array of role names');
  for (const role of options.roles ?? []) {
    if (typeof role !== 'string' || role === '') throw new TypeError(`requireBearer: ${JSON.stringify(role)} is not a role name`);
  }
  if (options.dpop !== undefined && !DPOP_MODES.includes(options.dpop)) {
    throw new TypeError(`requireBearer: dpop must be ${DPOP_MODES.join(' or ')}, not ${JSON.stringify(options.dpop)}`);
  }
  const settings: BearerRequirements & { allowSession?: boolean } = {
    ...options, scopes: Object.freeze([...(options.scopes ?? [])]), acr: Object.freeze([...acr]), roles: Object.freeze([...(options.roles ?? [])]),
  };
  const missing = settings.dpop === 'required'
    ? new BearerError(undefined, 'Send an Authorization: DPoP access token with its DPoP proof.', { scheme: 'DPoP' })
    : new BearerError(undefined, 'Send an Authorization: Bearer access token.');
  return async (authenticator, { authorization, dpop, method, path, ip }) => {
    try {
      const result = await authenticator.authenticate(authorization, settings, { ip, request: { method, path, dpop } });
      if (result === null && !settings.allowSession) return new BearerRefusal(missing, ip);
      return result;
    } catch (error) {
      if (error instanceof BearerError || error instanceof TooManyTokenChecks) return new BearerRefusal(error, ip);
      throw error; // provider or database failures: the app's error handler answers 502/503/504
    }
  };
}

/**
 * A preHandler hook that protects a route. On success it sets `request.bearer` and `request.user`;
 * on a refusal it answers per RFC 6750 and the route never runs. The IP is request.ip, which honours TRUST_PROXY.
 */
export function bearerGuard(
  authenticator: BearerAuthenticator,
  options: BearerGuardOptions = {},
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const check = bearerCheck(options);
  return async (request, reply) => {
    const dpop = request.headers.dpop;
    const result = await check(authenticator, {
      authorization: request.headers.authorization, dpop: typeof dpop === 'string' ? dpop : undefined, method: request.method, path: request.url, ip: request.ip,
    });
    if (result instanceof BearerRefusal) {
      request.log.info(...result.log);
      return reply.code(result.status).headers(result.headers).send(result.body);
    }
    if (result !== null) {
      request.bearer = result.token;
      request.user = result.user;
    }
    return undefined;
  };
}
