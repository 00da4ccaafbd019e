/**
 * Opaque access tokens (anything that is not a three-part JWS) can only be checked by the provider.
 * By default they go to its RFC 7662 introspection endpoint (found by rp/provider.ts in OpenID
 * discovery, RFC 8414 metadata or OIDC_OP_INTROSPECTION_ENDPOINT), and pass only when the answer says
 * `active`, an access token, and a token issued to our client or to one of OIDC_API_ALLOWED_CLIENTS:
 * a provider introspects every client's tokens for us, and another client's token must not open our
 * API. Without introspection they are refused, unless OIDC_API_OPAQUE_USERINFO opts in to userinfo,
 * which proves a token is live for some user but not for which client.
 *
 * Answers sit in a small LRU cache keyed by SHA-256 of the token (src/rp/token-cache.ts): at most
 * 60 s and never past the token's `exp`; refusals for 10 s. Concurrent requests with one token share
 * one provider call, and each client IP has a budget of provider checks per minute (./limit.ts), so
 * random tokens cannot turn into one introspection each. Opaque tokens carry no issuer, so they are
 * only sent to the default (first) provider unless `opaqueProviders` names others: a token is never
 * shown to a provider that may not have issued it. A provider that is down gives 502/504, and that
 * is not cached.
 */
import type * as client from 'openid-client';
import type { Config } from '../../config/index.ts';
import { toTokenQueryError } from '../errors.ts';
import { sameIssuer } from '../issuer.ts';
import type { ProviderClient } from '../provider.ts';
import { TokenCache, tokenCacheKey, type TokenCacheOptions } from '../token-cache.ts';
import { TokenCheckLimiter } from './limit.ts';
import { clientIdOf, expiresAtOf, scopesOf, type BearerToken } from './token.ts';

export type Outcome = { ok: true; token: BearerToken } | { ok: false; message: string };

export interface OpaqueTokenOptions {
  cache?: TokenCacheOptions;
  /** Provider ids whose introspection/userinfo may see opaque tokens; default: the first provider. */
  opaqueProviders?: readonly string[];
}

type Settings = Pick<Config, 'apiAudience' | 'clockToleranceSeconds' | 'opaqueTokens'>;

/** `token_type` values that mean an access token: RFC 6750 `Bearer`, RFC 9449 `DPoP`, `access_token`, and RFC 8693's URI. */
const ACCESS_TOKEN_TYPES = new Set(['bearer', 'dpop', 'access_token', 'urn:ietf:params:oauth:token-type:access_token']);

const NOT_ACTIVE = 'The access token is not active (expired, revoked or unknown).';
const refuse = (message: string): Outcome => ({ ok: false, message });

export class OpaqueTokenChecker {
  readonly cache: TokenCache<Outcome>;
  readonly #config: Settings;
  readonly #inflight = new Map<string, Promise<Outcome>>();
  readonly #opaqueProviders: readonly string[] | undefined;
  readonly #limiter: TokenCheckLimiter;

  constructor(config: Settings, options: OpaqueTokenOptions = {}) {
    this.#config = config;
    this.cache = new TokenCache<Outcome>(options.cache);
    this.#opaqueProviders = options.opaqueProviders;
    this.#limiter = new TokenCheckLimiter(config.opaqueTokens.limitPerMinute);
  }

  /**
   * Cached, and shared by concurrent requests with the same token. A token that needs the provider
   * counts against `ip`'s budget (none without an ip); over it, TooManyTokenChecks is thrown.
   */
  async check(token: string, providers: readonly ProviderClient[], ip?: string): Promise<Outcome> {
    const key = tokenCacheKey(token);
    const cached = this.cache.get(key);
    if (cached) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      if (ip !== undefined) this.#limiter.take(ip);
      pending = this.#askProviders(token, providers).then((outcome) => {
        if (outcome.ok) {
          this.cache.setPositive(key, outcome, outcome.token.expiresAt);
          if (ip !== undefined) this.#limiter.giveBack(ip);
        } else {
          this.cache.setNegative(key, outcome);
        }
        return outcome;
      }).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #askProviders(token: string, all: readonly ProviderClient[]): Promise<Outcome> {
    const wanted = this.#opaqueProviders;
    const providers = wanted ? all.filter((p) => wanted.includes(p.config.id)) : all.slice(0, 1);
    let refusal = refuse(NOT_ACTIVE);
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
    const { issuer } = await provider.serverMetadata();
    let introspection: client.IntrospectionResponse | null;
    try {
      introspection = await provider.introspect(token);
    } catch (error) {
      throw toTokenQueryError(error, 'introspection', provider.config.name);
    }
    if (introspection !== null) return this.#judge(provider, issuer, token, introspection);
    if (!this.#config.opaqueTokens.userinfoFallback) {
      return refuse('Opaque access tokens cannot be checked here: the provider has no introspection endpoint.');
    }
    return this.#userinfoOnly(provider, token);
  }

  /** An RFC 7662 answer, held to the same rules as a JWT access token, and to our client. */
  async #judge(provider: ProviderClient, issuer: string, token: string, answer: client.IntrospectionResponse): Promise<Outcome> {
    const now = Date.now() / 1000;
    const tolerance = this.#config.clockToleranceSeconds;
    if (answer.active !== true) return refuse(NOT_ACTIVE);
    const tokenType = typeof answer.token_type === 'string' ? answer.token_type.toLowerCase() : undefined;
    if (tokenType !== undefined && !ACCESS_TOKEN_TYPES.has(tokenType)) return refuse('The token is not an access token.');
    if (answer.iss !== undefined && !sameIssuer(answer.iss, issuer)) {
      return refuse('The access token was issued by another issuer (iss).');
    }
    const ours = new Set([provider.config.clientId, ...this.#config.opaqueTokens.allowedClients]);
    const aud = answer.aud;
    const audiences = aud === undefined ? undefined : Array.isArray(aud) ? aud : [aud];
    // RFC 7662 makes aud optional; when the provider names one, it must be this API or our client.
    if (audiences !== undefined && !audiences.some((a) => a === this.#config.apiAudience || ours.has(a))) {
      return refuse('The access token is not meant for this API (aud).');
    }
    const clientId = clientIdOf(answer);
    if (!(clientId !== undefined && ours.has(clientId)) && !audiences?.some((a) => ours.has(a))) {
      return refuse('The access token was issued to another client (client_id).');
    }
    if (typeof answer.exp === 'number' && answer.exp <= now - tolerance) return refuse('The access token has expired.');
    if (typeof answer.nbf === 'number' && answer.nbf > now + tolerance) return refuse('The access token is not valid yet (nbf).');

    let subject = typeof answer.sub === 'string' && answer.sub !== '' ? answer.sub : undefined;
    let userinfo: Record<string, unknown> = {};
    // Userinfo, which takes access tokens only, completes two kinds of answer: one without sub
    // (django-oauth-toolkit names the username only), and one without token_type or aud
    // (LemonLDAP::NG), which oidc-provider also gives for a refresh token.
    const unconfirmed = tokenType === undefined && audiences === undefined;
    if (subject === undefined || unconfirmed) {
      const claims = await this.#userinfo(provider, token);
      const named = typeof claims?.['sub'] === 'string' && claims['sub'] !== '' ? claims['sub'] : undefined;
      if (named === undefined) {
        return refuse(subject === undefined
          ? 'The provider named no subject for this access token (sub), and userinfo did not take it.'
          : 'The provider did not confirm this is an access token (no token_type or aud, and userinfo did not take it).');
      }
      if (subject !== undefined && named !== subject) return refuse('The provider named two different subjects for this access token (sub).');
      subject = named;
      userinfo = claims!;
    }
    return {
      ok: true,
      token: {
        verifiedBy: 'introspection',
        provider: provider.config.id,
        issuer: provider.config.issuer,
        subject,
        clientId,
        scopes: scopesOf(answer),
        expiresAt: expiresAtOf(answer),
        claims: { ...userinfo, ...answer, sub: subject },
      },
    };
  }

  /**
   * OIDC_API_OPAQUE_USERINFO: without introspection, userinfo proves the token is live for some
   * user, not that it was issued for this API or client, and it names no scopes (routes that
   * require scopes refuse such tokens).
   */
  async #userinfoOnly(provider: ProviderClient, token: string): Promise<Outcome> {
    const userinfo = await this.#userinfo(provider, token);
    if (userinfo === null) return refuse('The provider does not accept this access token.');
    if (typeof userinfo['sub'] !== 'string' || userinfo['sub'] === '') return refuse('The provider named no subject for this access token.');
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

  /** The provider's userinfo for the token; null when it refuses the token or has no userinfo endpoint. */
  async #userinfo(provider: ProviderClient, token: string): Promise<Record<string, unknown> | null> {
    try {
      return await provider.userinfoForToken(token);
    } catch (error) {
      const failure = toTokenQueryError(error, 'userinfo', provider.config.name);
      if (failure === 'refused') return null;
      throw failure;
    }
  }
}
