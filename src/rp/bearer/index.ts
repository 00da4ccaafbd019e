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
import type { Config } from '../../config/index.ts';
import type { Db } from '../../db/index.ts';
import type { User } from '../../db/schema.ts';
import { findActiveUserByIdentity } from '../../provisioning/identities.ts';
import type { RelyingParty } from '../index.ts';
import type { ProviderClient } from '../provider.ts';
import type { TokenCache } from '../token-cache.ts';
import { isJwt, verifyJwtAccessToken } from './jwt.ts';
import { OpaqueTokenChecker, type OpaqueTokenOptions } from './opaque.ts';
import { BearerError, parseAuthorization } from './parse.ts';
import { missingScopes, type BearerToken } from './token.ts';

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
}

/** Who sent the token: opaque tokens that need the provider count against the client IP's budget. */
export interface BearerCaller {
  ip?: string;
}

export interface BearerAuthentication {
  token: BearerToken;
  user: User | null;
}

export type BearerAuthenticatorOptions = OpaqueTokenOptions;

/**
 * Checks bearer tokens for one app: JWTs locally, opaque tokens with the provider (cached), then the
 * local user and the route's scopes. One instance per app, so the caches are shared by its routes.
 */
export class BearerAuthenticator {
  readonly #config: Config;
  readonly #db: Db;
  readonly #rp: RelyingParty;
  readonly #opaque: OpaqueTokenChecker;

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
    const raw = parseAuthorization(authorization);
    if (raw === null) return null;
    const token = await this.verifyToken(raw, caller);
    // Checked at every request, so deactivation is immediate.
    const user = (await findActiveUserByIdentity(this.#db, token.issuer, token.subject)) ?? null;
    if (!user && (options.user ?? 'required') === 'required') {
      throw new BearerError('invalid_token', 'The access token does not belong to an active account here.');
    }
    const required = options.scopes ?? [];
    const missing = missingScopes(token.scopes, required);
    if (missing.length > 0) {
      throw new BearerError('insufficient_scope', `This request needs the scope ${missing.join(' ')}.`, { requiredScopes: required });
    }
    return { token, user };
  }

  #providers(): ProviderClient[] {
    return this.#rp.providers.map((p) => this.#rp.provider(p.id));
  }
}
