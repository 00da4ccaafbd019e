/**
 * Bearer access tokens for APIs (RFC 6750), checked for the app's configured provider(s).
 *
 * * **JWT access tokens** (RFC 9068, Okta's default authorization server) are verified locally with
 *   jose against the provider's one cached JWKS: an asymmetric signature (never `none` or an HMAC),
 *   `iss` = a configured provider's issuer, `aud` includes `OIDC_API_AUDIENCE`, `exp` and `nbf`
 *   with the clock tolerance, `iat` not in the future, `typ` at+jwt or JWT (or none, as Okta sends),
 *   and a `sub`. An unknown `kid` re-fetches the JWKS at most once per cooldown (src/rp/jwks.ts).
 * * **Opaque tokens** (anything that is not a three-part JWS) go to the provider's RFC 7662
 *   introspection endpoint with the client's credentials when discovery lists one, else to userinfo.
 *   Answers sit in a small LRU cache keyed by SHA-256 of the token (src/rp/token-cache.ts): at most
 *   60 s and never past the token's `exp`; refusals for 10 s. Concurrent requests with one token share
 *   one provider call. Opaque tokens carry no issuer, so they are only sent to the default (first)
 *   provider unless `opaqueProviders` names others: a token is never shown to a provider that may
 *   not have issued it.
 * * **Local user**: the token's (issuer, sub) is looked up in `identities`, and the user must be
 *   active. Decision: by default a valid token whose subject has no active local account is refused
 *   with 401 invalid_token ("no active account"), exactly like a session of a deactivated user; the
 *   API never acts for someone the app does not know. Routes that serve machine clients or unknown
 *   users opt in with `{ user: 'optional' }`: request.user is then null and request.bearer carries
 *   the verified claims. Tokens are never used to create accounts (they carry no verified profile).
 *
 * Errors follow RFC 6750 §3: no credentials → 401 `WWW-Authenticate: Bearer`; a malformed header →
 * 400 invalid_request; a bad, expired or unknown token → 401 invalid_token; missing scopes → 403
 * insufficient_scope with `scope="…"`. A provider that is down gives 502/504 (not the client's
 * fault, and not cached). The token itself never appears in an answer, a log line or the cache.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as jose from 'jose';
import * as client from 'openid-client';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import { prepared } from '../db/prepared.ts';
import type { User } from '../db/schema.ts';
import { OidcConnectError, type ErrorCode } from '../errors.ts';
import { toSignInError } from './errors.ts';
import type { RelyingParty } from './index.ts';
import type { ProviderClient } from './provider.ts';
import { TokenCache, tokenCacheKey, type TokenCacheOptions } from './token-cache.ts';
import { ASYMMETRIC_ALGORITHMS } from './algorithms.ts';

/** Longest token accepted, in characters; real access tokens are a few KB at most. */
export const MAX_TOKEN_LENGTH = 8192;

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

export interface BearerGuardOptions {
  /** Every one of these scopes must be granted, or the answer is 403 insufficient_scope. */
  scopes?: readonly string[];
  /**
   * `'required'` (default): the token's (issuer, sub) must belong to an active local user, else
   * 401 invalid_token. `'optional'`: a valid token of an unknown user passes with request.user null.
   */
  user?: 'required' | 'optional';
  /**
   * When the request carries no Bearer credentials at all (no Authorization header, or another
   * scheme), go on to the route instead of answering 401: request.user stays the session user, if
   * any. A Bearer header, when present, is always checked and wins over the session.
   */
  allowSession?: boolean;
}

export interface BearerAuthentication {
  token: BearerToken;
  user: User | null;
}

export interface BearerAuthenticatorOptions {
  cache?: TokenCacheOptions;
  /** Provider ids whose introspection/userinfo may see opaque tokens; default: the first provider. */
  opaqueProviders?: readonly string[];
}

type OAuthError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

const OAUTH_CODES: Record<OAuthError, ErrorCode> = {
  invalid_request: 'BAD_REQUEST',
  invalid_token: 'INVALID_TOKEN',
  insufficient_scope: 'INSUFFICIENT_SCOPE',
};

/** A refusal answered per RFC 6750 §3, with a WWW-Authenticate challenge. */
export class BearerError extends OidcConnectError {
  /** The RFC 6750 error code; undefined when the request carried no Bearer credentials. */
  readonly oauthError: OAuthError | undefined;
  /** For insufficient_scope: the scopes the route needs. */
  readonly requiredScopes: readonly string[];

  constructor(oauthError: OAuthError | undefined, message: string, options: { requiredScopes?: readonly string[]; cause?: unknown } = {}) {
    super(oauthError ? OAUTH_CODES[oauthError] : 'LOGIN_REQUIRED', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BearerError';
    this.oauthError = oauthError;
    this.requiredScopes = options.requiredScopes ?? [];
  }

  /** The `WWW-Authenticate` value. Only our own constant texts and configured scope names reach it. */
  challenge(): string {
    if (!this.oauthError) return 'Bearer';
    const params = [`error="${this.oauthError}"`, `error_description="${quotable(this.message)}"`];
    if (this.oauthError === 'insufficient_scope') params.push(`scope="${quotable(this.requiredScopes.join(' '))}"`);
    return `Bearer ${params.join(', ')}`;
  }
}

/** RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E inside error_description and scope. */
function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A compact JWS; the signature is empty for `alg: none`, which must still be refused as a JWT. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * The bearer token of an Authorization header value. Returns null when there are no Bearer
 * credentials (no header, or another scheme such as Basic). Throws invalid_request when the
 * Bearer credentials are malformed (no token, several, or characters outside RFC 6750's b64token).
 */
export function parseAuthorization(header: string | undefined): string | null {
  // Split by hand: a backtracking regex over the whole header cost ~15 ns per character.
  const value = header?.trim() ?? '';
  if (value === '') return null;
  const space = value.search(/[ \t]/);
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return null;
  const token = space === -1 ? '' : value.slice(space + 1).trimStart();
  if (token === '') throw new BearerError('invalid_request', 'The Authorization header has no token after Bearer.');
  if (!B64TOKEN.test(token)) throw new BearerError('invalid_request', 'The Authorization header is malformed: expected Bearer and a single token.');
  return token;
}

/** Granted scopes from `scp` (Okta: array; Entra ID: space-separated string) and `scope` (RFC 9068/7662). */
export function scopesOf(claims: Readonly<Record<string, unknown>>): string[] {
  const scopes = new Set<string>();
  const add = (value: unknown): void => {
    const items = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const item of items) if (typeof item === 'string' && SCOPE_TOKEN.test(item)) scopes.add(item);
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

const stripSlash = (issuer: string): string => issuer.replace(/\/+$/, '');

/** Maps jose's verification failures to invalid_token; a JWKS that can't be fetched is the provider's fault. */
function joseFailure(error: unknown, provider: ProviderClient): OidcConnectError {
  const { errors } = jose;
  const refuse = (message: string) => new BearerError('invalid_token', message, { cause: error });
  if (error instanceof errors.JWTExpired) return refuse('The access token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'aud': return refuse('The access token is not meant for this API (aud).');
      case 'iss': return refuse('The access token was issued by another issuer (iss).');
      case 'nbf': return refuse('The access token is not valid yet (nbf).');
      default: return refuse(`The access token has a missing or invalid ${quotable(error.claim)} claim.`);
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return refuse('The access token signature is invalid.');
  if (error instanceof errors.JWKSNoMatchingKey) return refuse('The access token is signed with an unknown key.');
  if (error instanceof errors.JWKSMultipleMatchingKeys) return refuse('The access token does not say which key signed it (kid).');
  if (error instanceof errors.JOSEAlgNotAllowed) return refuse('The access token signing algorithm is not allowed.');
  if (error instanceof errors.JWKSTimeout) {
    return new OidcConnectError('PROVIDER_TIMEOUT', `${provider.config.name} did not send its signing keys in time.`, { cause: error });
  }
  if (error instanceof errors.JWKSInvalid) {
    return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider.config.name} published an invalid key set.`, { cause: error });
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return refuse('The access token is malformed.');
  }
  return providerFailure(error, provider, 'jwks', 'fetch its signing keys');
}

/** A provider that is down or misbehaves while checking a token: 502/504, never 401 and never cached. */
function providerFailure(error: unknown, provider: ProviderClient, stage: 'jwks' | 'userinfo', what: string): OidcConnectError {
  const mapped = toSignInError(error, stage, provider.config.name);
  if (mapped.code === 'PROVIDER_TIMEOUT' || mapped.code === 'PROVIDER_UNREACHABLE') return mapped;
  return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider.config.name} could not ${what} to check the access token.`, { cause: error });
}

/** The HTTP status of a provider's error answer, as openid-client reports it. */
function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof client.WWWAuthenticateChallengeError || error instanceof client.ResponseBodyError) return error.status;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof Response ? cause.status : undefined;
}

type Outcome = { ok: true; token: BearerToken } | { ok: false; message: string };

/**
 * Checks bearer tokens for one app: JWTs locally, opaque tokens with the provider (cached), then the
 * local user and the route's scopes. One instance per app, so the caches are shared by its routes.
 */
export class BearerAuthenticator {
  readonly #config: Config;
  readonly #db: Db;
  readonly #rp: RelyingParty;
  readonly #cache: TokenCache<Outcome>;
  readonly #inflight = new Map<string, Promise<Outcome>>();
  readonly #opaqueProviders: readonly string[] | undefined;

  constructor(ctx: { config: Config; db: Db; rp: RelyingParty }, options: BearerAuthenticatorOptions = {}) {
    this.#config = ctx.config;
    this.#db = ctx.db;
    this.#rp = ctx.rp;
    this.#cache = new TokenCache<Outcome>(options.cache);
    this.#opaqueProviders = options.opaqueProviders;
  }

  /** The opaque-token cache, for tests and metrics. */
  get cache(): TokenCache<unknown> {
    return this.#cache;
  }

  /**
   * Verifies a token (no user, no scopes). Throws BearerError invalid_token when it is refused, or
   * an OidcConnectError PROVIDER_* when the provider could not be asked.
   */
  async verifyToken(token: string): Promise<BearerToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new BearerError('invalid_token', 'The access token is too long.');
    if (JWS_COMPACT.test(token)) return this.#verifyJwt(token);
    const outcome = await this.#checkOpaque(token);
    if (!outcome.ok) throw new BearerError('invalid_token', outcome.message);
    return outcome.token;
  }

  /**
   * The whole check for an Authorization header value: token, local user, scopes. Resolves null
   * when the request carries no Bearer credentials; throws BearerError for every refusal.
   */
  async authenticate(authorization: string | undefined, options: BearerGuardOptions = {}): Promise<BearerAuthentication | null> {
    const raw = parseAuthorization(authorization);
    if (raw === null) return null;
    const token = await this.verifyToken(raw);
    const user = await this.#findUser(token);
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

  /**
   * A Fastify preHandler hook that protects a route (see `app.requireBearer`). On success it sets
   * `request.bearer` and `request.user`; on a refusal it answers per RFC 6750 and the route never runs.
   */
  guard(options: BearerGuardOptions = {}): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
    for (const scope of options.scopes ?? []) {
      if (!SCOPE_TOKEN.test(scope)) throw new TypeError(`requireBearer: ${JSON.stringify(scope)} is not a valid scope name`);
    }
    const settings: BearerGuardOptions = { ...options, scopes: Object.freeze([...(options.scopes ?? [])]) };
    return async (request, reply) => {
      let result: BearerAuthentication | null;
      try {
        result = await this.authenticate(request.headers.authorization, settings);
        if (result === null && !settings.allowSession) {
          throw new BearerError(undefined, 'Send an Authorization: Bearer access token.');
        }
      } catch (error) {
        if (error instanceof BearerError) return sendBearerError(request, reply, error);
        throw error; // provider or database failures: the app's error handler answers 502/503/504
      }
      if (result !== null) {
        request.bearer = result.token;
        request.user = result.user;
      }
      return undefined;
    };
  }

  async #verifyJwt(token: string): Promise<BearerToken> {
    let header: jose.ProtectedHeaderParameters;
    let unverified: jose.JWTPayload;
    try {
      header = jose.decodeProtectedHeader(token);
      unverified = jose.decodeJwt(token);
    } catch {
      throw new BearerError('invalid_token', 'The access token is malformed.');
    }
    // RFC 9068 says at+jwt; Okta sends no typ. Other JWTs (logout tokens, ID tokens with typ, DPoP
    // proofs…) are not access tokens.
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (header.typ !== undefined && typ !== 'at+jwt' && typ !== 'jwt') {
      throw new BearerError('invalid_token', 'The token is not an access token (typ).');
    }
    const iss = typeof unverified.iss === 'string' ? stripSlash(unverified.iss) : undefined;
    const provider = this.#providers().find((p) => stripSlash(p.config.issuer) === iss);
    if (!provider) throw new BearerError('invalid_token', 'The access token was issued by an unknown issuer (iss).');

    const { issuer, keys } = await provider.accessTokenKeys();
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer,
        audience: this.#config.apiAudience,
        algorithms: [...ASYMMETRIC_ALGORITHMS],
        clockTolerance: this.#config.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw joseFailure(error, provider);
    }
    // jose checks iat only with maxTokenAge; a token "issued" in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + this.#config.clockToleranceSeconds) {
      throw new BearerError('invalid_token', 'The access token was issued in the future (iat).');
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw new BearerError('invalid_token', 'The access token has a missing or invalid sub claim.');
    }
    return {
      verifiedBy: 'jwt',
      provider: provider.config.id,
      issuer: provider.config.issuer,
      subject: payload.sub,
      clientId: clientIdOf(payload),
      scopes: scopesOf(payload),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      claims: payload,
    };
  }

  /** Cached, and shared by concurrent requests with the same token. */
  async #checkOpaque(token: string): Promise<Outcome> {
    const key = tokenCacheKey(token);
    const cached = this.#cache.get(key);
    if (cached) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#askProviders(token).then((outcome) => {
        if (outcome.ok) this.#cache.setPositive(key, outcome, outcome.token.expiresAt);
        else this.#cache.setNegative(key, outcome);
        return outcome;
      }).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #askProviders(token: string): Promise<Outcome> {
    const wanted = this.#opaqueProviders;
    const providers = wanted ? this.#providers().filter((p) => wanted.includes(p.config.id)) : this.#providers().slice(0, 1);
    let refusal: Outcome = { ok: false, message: 'The access token is not active (expired, revoked or unknown).' };
    let failure: unknown;
    for (const provider of providers) {
      try {
        const outcome = await this.#askProvider(provider, token);
        if (outcome.ok) return outcome;
        refusal = outcome;
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure; // a provider that could not answer: not cached
    return refusal;
  }

  async #askProvider(provider: ProviderClient, token: string): Promise<Outcome> {
    const now = Date.now();
    const tolerance = this.#config.clockToleranceSeconds;
    const { issuer } = await provider.serverMetadata();
    let introspection: client.IntrospectionResponse | null;
    try {
      introspection = await provider.introspect(token);
    } catch (error) {
      // The provider refusing our own client credentials is a configuration problem, not the caller's.
      throw providerFailure(error, provider, 'userinfo', 'introspect');
    }
    if (introspection !== null) {
      const refuse = (message: string): Outcome => ({ ok: false, message });
      if (introspection.active !== true) return refuse('The access token is not active (expired, revoked or unknown).');
      const tokenType = typeof introspection.token_type === 'string' ? introspection.token_type.toLowerCase() : undefined;
      if (tokenType !== undefined && tokenType !== 'bearer' && tokenType !== 'access_token') {
        return refuse('The token is not an access token.');
      }
      if (introspection.iss !== undefined && stripSlash(introspection.iss) !== stripSlash(issuer)) {
        return refuse('The access token was issued by another issuer (iss).');
      }
      // RFC 7662 makes aud and token_type optional; when the provider names an audience, it must be
      // this API. With neither, the answer could be about a refresh token (oidc-provider, for one,
      // introspects those without token_type or aud), so it is refused.
      const aud = introspection.aud;
      const audiences = aud === undefined ? undefined : Array.isArray(aud) ? aud : [aud];
      if (audiences !== undefined && !audiences.includes(this.#config.apiAudience)) {
        return refuse('The access token is not meant for this API (aud).');
      }
      if (audiences === undefined && tokenType === undefined) {
        return refuse('The provider did not confirm this is an access token for this API (no token_type or aud).');
      }
      if (typeof introspection.exp === 'number' && introspection.exp <= now / 1000 - tolerance) {
        return refuse('The access token has expired.');
      }
      if (typeof introspection.nbf === 'number' && introspection.nbf > now / 1000 + tolerance) {
        return refuse('The access token is not valid yet (nbf).');
      }
      if (typeof introspection.sub !== 'string' || introspection.sub === '') {
        return refuse('The access token names no subject (sub).');
      }
      return {
        ok: true,
        token: {
          verifiedBy: 'introspection',
          provider: provider.config.id,
          issuer: provider.config.issuer,
          subject: introspection.sub,
          clientId: clientIdOf(introspection),
          scopes: scopesOf(introspection),
          expiresAt: typeof introspection.exp === 'number' ? introspection.exp * 1000 : undefined,
          claims: { ...introspection },
        },
      };
    }

    // No introspection: userinfo proves the token is live for some user, not that it was issued for
    // this API, and it names no scopes (routes that require scopes refuse such tokens).
    let userinfo: Record<string, unknown> | null;
    try {
      userinfo = await provider.userinfoForToken(token);
    } catch (error) {
      const status = httpStatusOf(error);
      if (status !== undefined && status >= 400 && status < 500) {
        return { ok: false, message: 'The provider does not accept this access token.' };
      }
      throw providerFailure(error, provider, 'userinfo', 'answer at userinfo');
    }
    if (userinfo === null) return { ok: false, message: 'Opaque access tokens cannot be checked with this provider.' };
    if (typeof userinfo['sub'] !== 'string' || userinfo['sub'] === '') return { ok: false, message: 'The provider named no subject for this access token.' };
    return {
      ok: true,
      token: {
        verifiedBy: 'userinfo',
        provider: provider.config.id,
        issuer: provider.config.issuer,
        subject: userinfo['sub'],
        clientId: undefined,
        scopes: [],
        expiresAt: undefined,
        claims: userinfo,
      },
    };
  }

  #providers(): ProviderClient[] {
    return this.#rp.providers.map((p) => this.#rp.provider(p.id));
  }

  /** The active local user linked to (issuer, sub); checked at every request, so deactivation is immediate. */
  async #findUser(token: BearerToken): Promise<User | null> {
    const [user] = await userByIdentity(this.#db, [token.issuer, token.subject]);
    return user && user.is_active ? user : null;
  }
}

/** Runs on every bearer request: compiled once. Parameters: issuer, subject. */
const userByIdentity = prepared((db) => db
  .selectFrom('identities')
  .innerJoin('users', 'users.id', 'identities.user_id')
  .selectAll('users')
  .where('identities.issuer', '=', '')
  .where('identities.subject', '=', ''));

function clientIdOf(claims: Readonly<Record<string, unknown>>): string | undefined {
  const id = claims['client_id'] ?? claims['cid'];
  return typeof id === 'string' ? id : undefined;
}

/** Answers a BearerError as JSON `{ error, message }` with its RFC 6750 challenge. */
export function sendBearerError(request: FastifyRequest, reply: FastifyReply, error: BearerError): FastifyReply {
  request.log.info({ code: error.code, reason: error.message }, 'bearer token refused');
  return reply
    .code(error.status)
    .header('www-authenticate', error.challenge())
    .header('cache-control', 'no-store')
    .send({ error: error.code, message: error.message });
}
