/**
 * Bearer access tokens for APIs (RFC 6750), checked for the app's configured provider(s): JWTs
 * locally (./jwt.ts), opaque tokens with the provider (./opaque.ts), then the local user and the
 * route's scopes. The Fastify hook that answers refusals is src/web/bearer-guard.ts.
 *
 * Local user: the token's (issuer, sub) is looked up in `identities`, and the user must be active.
 * Decision: by default a valid token whose subject has no active local account is refused with 401
 * invalid_token ("no active account"), exactly like a session of a deactivated user; the API never
 * acts for someone the app does not know. Routes that serve machine clients or unknown users opt in
 * with `{ user: 'optional' }`: request.user is then null and request.bearer carries the verified
 * claims. Tokens are never used to create accounts (they carry no verified profile).
 *
 * The token itself never appears in an answer, a log line or the cache.
 */
import { hasRoles, withRoles, type SignedInUser } from '../../accounts/roles.ts';
import type { Config } from '../../config/index.ts';
import { changeFeedOf } from '../../db/change-feed.ts';
import type { Db } from '../../db/index.ts';
import type { CacheStats } from '../../db/invalidated-cache.ts';
import { findActiveUserByIdentity } from '../../provisioning/identities.ts';
import type { RelyingParty } from '../index.ts';
import type { JwksCache } from '../jwks.ts';
import type { ProviderClient } from '../provider.ts';
import type { TokenCache } from '../token-cache.ts';
import { beforeVerify, cachedToken, verifiedTokenCache, type VerifiedTokenCache } from './cache.ts';
import { checkBinding, type DpopMode, type ProofRequest } from './dpop.ts';
import { isJwt, verifyJwtAccessToken } from './jwt.ts';
import { OpaqueTokenChecker, type OpaqueTokenOptions } from './opaque.ts';
import { BearerError, parseCredentials } from './parse.ts';
import { missingScopes, type BearerToken } from './token.ts';

export { boundKey, DPOP_MODES, type DpopMode } from './dpop.ts';
export { TooManyTokenChecks } from './limit.ts';
export { BearerError, isScopeName, parseAuthorization } from './parse.ts';
export { scopesOf, type BearerToken } from './token.ts';

/** Longest token accepted, in characters; real access tokens are a few KB at most. */
export const MAX_TOKEN_LENGTH = 8192;

/** What a route asks of a bearer token beyond being valid. */
export interface BearerRequirements {
  /** Every one of these scopes must be granted, or the answer is 403 insufficient_scope. */
  scopes?: readonly string[];
  /**
   * `'required'` (default): the token's (issuer, sub) must belong to an active local user, else
   * 401 invalid_token. `'optional'`: a valid token of an unknown user passes with request.user null.
   */
  user?: 'required' | 'optional';
  /**
   * The token's `acr` must be one of these (a multi-factor sign-in, say), else 401 with RFC 9470's
   * `insufficient_user_authentication` and these as `acr_values`, for the client to sign in again with.
   */
  acr?: readonly string[];
  /**
   * Every one of these roles (src/accounts/roles.ts: ROLE_RULES, staff, superuser) must be the user's,
   * or the answer is 403 insufficient_scope. Implies `user: 'required'`.
   */
  roles?: readonly string[];
  /**
   * DPoP-bound tokens (RFC 9449). `'allowed'` (default): a Bearer token, or a DPoP-bound one sent as
   * `Authorization: DPoP` with its proof. `'required'`: DPoP-bound tokens only. A bound token sent
   * as Bearer is refused either way.
   */
  dpop?: DpopMode;
}

/** Who sent the token: opaque tokens that need the provider count against the client IP's budget. */
export interface BearerCaller {
  ip?: string;
  /**
   * The request's method, path (with its query, which is ignored) and DPoP header, which a DPoP
   * proof must match; without it, DPoP-bound tokens are refused.
   */
  request?: { method: string; path: string; dpop: string | undefined };
}

export interface BearerAuthentication {
  token: BearerToken;
  /** The local user, with their roles. */
  user: SignedInUser | null;
}

export type BearerAuthenticatorOptions = OpaqueTokenOptions;

/**
 * Checks bearer tokens for one app: JWTs locally, opaque tokens with the provider (cached), then the
 * local user and the route's scopes. One instance per app, so the caches are shared by its routes.
 * Verified JWTs of active users are kept (./cache.ts) while SESSION_CACHE is on; `close()` stops that.
 */
export class BearerAuthenticator {
  readonly #config: Config;
  readonly #db: Db;
  readonly #rp: RelyingParty;
  readonly #opaque: OpaqueTokenChecker;
  /** Started at the first JWT; null once closed, or when there is no change feed to keep it right. */
  #verified: VerifiedTokenCache | null | undefined;

  constructor(ctx: { config: Config; db: Db; rp: RelyingParty }, options: BearerAuthenticatorOptions = {}) {
    this.#config = ctx.config;
    this.#db = ctx.db;
    this.#rp = ctx.rp;
    this.#opaque = new OpaqueTokenChecker(ctx.config, options);
  }

  /** The opaque-token cache, for tests and metrics. */
  get cache(): TokenCache<unknown> {
    return this.#opaque.cache;
  }

  /**
   * Verifies a token (no user, no scopes). Throws BearerError invalid_token when it is refused, an
   * OidcConnectError PROVIDER_* when the provider could not be asked, or TooManyTokenChecks (429)
   * when `caller.ip` sent too many opaque tokens the provider did not confirm. Without an ip, opaque
   * tokens are not limited: pass one for every request from outside.
   */
  async verifyToken(token: string, caller: BearerCaller = {}): Promise<BearerToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new BearerError('invalid_token', 'The access token is too long.');
    if (isJwt(token)) return verifyJwtAccessToken(token, this.#providers(), this.#config);
    const outcome = await this.#opaque.check(token, this.#providers(), caller.ip);
    if (!outcome.ok) throw new BearerError('invalid_token', outcome.message);
    return outcome.token;
  }

  /**
   * The whole check for an Authorization header value: token, local user, scopes. Resolves null
   * when the request carries no Bearer credentials; throws BearerError for every refusal, and
   * TooManyTokenChecks as verifyToken does.
   */
  async authenticate(authorization: string | undefined, options: BearerRequirements = {}, caller: BearerCaller = {}): Promise<BearerAuthentication | null> {
    const credentials = parseCredentials(authorization);
    if (credentials === null) return null;
    const raw = credentials.token;
    const cache = raw.length <= MAX_TOKEN_LENGTH && isJwt(raw) ? this.#verifiedTokens() : null;
    const cached = cache ? cachedToken(cache, raw) : undefined;
    if (cached) {
      // The proof is checked at every request, a cached token or not.
      await this.#checkBinding(cached.token, credentials, options, caller);
      return this.#admit(cached.token, cached.user, options);
    }
    const keep = cache ? beforeVerify(cache) : undefined;
    const token = await this.verifyToken(raw, caller);
    await this.#checkBinding(token, credentials, options, caller);
    const keys = keep ? await this.#keysOf(token) : undefined;
    // Read at every request unless cached, and a cached user is dropped when it changes, so deactivation is immediate.
    const found = await findActiveUserByIdentity(this.#db, token.issuer, token.subject);
    const user = found ? withRoles(found) : null;
    if (keep && keys && user) keep(raw, { token, user, ...keys });
    return this.#admit(token, user, options);
  }

  #checkBinding(token: BearerToken, credentials: { scheme: 'Bearer' | 'DPoP'; token: string }, options: BearerRequirements, caller: BearerCaller): Promise<void> {
    const request: ProofRequest | undefined = caller.request
      ? { method: caller.request.method, url: `${this.#config.appUrl}${caller.request.path}`, proof: caller.request.dpop }
      : undefined;
    return checkBinding(this.#db, token, credentials, request, { mode: options.dpop ?? 'allowed', clockToleranceSeconds: this.#config.clockToleranceSeconds });
  }

  /** How many verified JWTs are kept (./cache.ts), for tests and metrics. */
  get verifiedTokens(): number {
    return this.#verified?.size ?? 0;
  }

  /** The verified-token cache's hits and misses (./cache.ts); null while it is not started. */
  verifiedTokenStats(): CacheStats | null {
    return this.#verified?.stats() ?? null;
  }

  /** Stops keeping verified tokens (the app is closing). */
  async close(): Promise<void> {
    const cache = this.#verified;
    this.#verified = null;
    await cache?.release();
  }

  /** The user and scope checks, on a verified token. */
  #admit(token: BearerToken, user: SignedInUser | null, options: BearerRequirements): BearerAuthentication {
    const roles = options.roles ?? [];
    if (!user && ((options.user ?? 'required') === 'required' || roles.length > 0)) {
      throw new BearerError('invalid_token', 'The access token does not belong to an active account here.');
    }
    const acr = options.acr ?? [];
    if (acr.length > 0 && !acr.includes(token.claims['acr'] as string)) {
      throw new BearerError('insufficient_user_authentication', 'This request needs a stronger sign-in (acr) than the token shows.', { acrValues: acr });
    }
    if (user && !hasRoles(user, roles)) {
      // RFC 6750 has no error of its own for a missing role; 403 insufficient_scope is its "not enough rights".
      throw new BearerError('insufficient_scope', `This request needs the role ${roles.filter((role) => !user.roles.includes(role)).join(' ')}.`, { requiredScopes: options.scopes ?? [] });
    }
    const required = options.scopes ?? [];
    const missing = missingScopes(token.scopes, required);
    if (missing.length > 0) {
      throw new BearerError('insufficient_scope', `This request needs the scope ${missing.join(' ')}.`, { requiredScopes: required });
    }
    return { token, user };
  }

  #verifiedTokens(): VerifiedTokenCache | null {
    if (this.#verified === undefined) {
      const feed = this.#config.session?.cache ? changeFeedOf(this.#db) : undefined;
      this.#verified = feed ? verifiedTokenCache(feed) : null;
    }
    return this.#verified;
  }

  /** The key set a JWT was verified against, and its version then. */
  async #keysOf(token: BearerToken): Promise<{ keys: JwksCache; keysVersion: number }> {
    const keys = await this.#rp.provider(token.provider).jwksCache();
    return { keys, keysVersion: keys.version };
  }

  #providers(): ProviderClient[] {
    return this.#rp.providers.map((p) => this.#rp.provider(p.id));
  }
}
