/**
 * Opaque access tokens (anything that is not a three-part JWS) go to the provider's RFC 7662
 * introspection endpoint with the client's credentials when discovery lists one, else to userinfo.
 * Answers sit in a small LRU cache keyed by SHA-256 of the token (src/rp/token-cache.ts): at most
 * 60 s and never past the token's `exp`; refusals for 10 s. Concurrent requests with one token share
 * one provider call. Opaque tokens carry no issuer, so they are only sent to the default (first)
 * provider unless `opaqueProviders` names others: a token is never shown to a provider that may
 * not have issued it. A provider that is down gives 502/504, and that is not cached.
 */
import type * as client from 'openid-client';
import type { Config } from '../../config/index.ts';
import { toTokenQueryError } from '../errors.ts';
import { sameIssuer } from '../issuer.ts';
import type { ProviderClient } from '../provider.ts';
import { TokenCache, tokenCacheKey, type TokenCacheOptions } from '../token-cache.ts';
import { clientIdOf, expiresAtOf, scopesOf, type BearerToken } from './token.ts';

export type Outcome = { ok: true; token: BearerToken } | { ok: false; message: string };

export interface OpaqueTokenOptions {
  cache?: TokenCacheOptions;
  /** Provider ids whose introspection/userinfo may see opaque tokens; default: the first provider. */
  opaqueProviders?: readonly string[];
}

const NOT_ACTIVE = 'The access token is not active (expired, revoked or unknown).';
const refuse = (message: string): Outcome => ({ ok: false, message });

export class OpaqueTokenChecker {
  readonly cache: TokenCache<Outcome>;
  readonly #config: Pick<Config, 'apiAudience' | 'clockToleranceSeconds'>;
  readonly #inflight = new Map<string, Promise<Outcome>>();
  readonly #opaqueProviders: readonly string[] | undefined;

  constructor(config: Pick<Config, 'apiAudience' | 'clockToleranceSeconds'>, options: OpaqueTokenOptions = {}) {
    this.#config = config;
    this.cache = new TokenCache<Outcome>(options.cache);
    this.#opaqueProviders = options.opaqueProviders;
  }

  /** Cached, and shared by concurrent requests with the same token. */
  async check(token: string, providers: readonly ProviderClient[]): Promise<Outcome> {
    const key = tokenCacheKey(token);
    const cached = this.cache.get(key);
    if (cached) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#askProviders(token, providers).then((outcome) => {
        if (outcome.ok) this.cache.setPositive(key, outcome, outcome.token.expiresAt);
        else this.cache.setNegative(key, outcome);
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
    if (introspection !== null) return this.#judge(provider, issuer, introspection);

    // No introspection: userinfo proves the token is live for some user, not that it was issued for
    // this API, and it names no scopes (routes that require scopes refuse such tokens).
    let userinfo: Record<string, unknown> | null;
    try {
      userinfo = await provider.userinfoForToken(token);
    } catch (error) {
      const failure = toTokenQueryError(error, 'userinfo', provider.config.name);
      if (failure === 'refused') return refuse('The provider does not accept this access token.');
      throw failure;
    }
    if (userinfo === null) return refuse('Opaque access tokens cannot be checked with this provider.');
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

  /** An RFC 7662 answer, held to the same rules as a JWT access token. */
  #judge(provider: ProviderClient, issuer: string, introspection: client.IntrospectionResponse): Outcome {
    const now = Date.now() / 1000;
    const tolerance = this.#config.clockToleranceSeconds;
    if (introspection.active !== true) return refuse(NOT_ACTIVE);
    const tokenType = typeof introspection.token_type === 'string' ? introspection.token_type.toLowerCase() : undefined;
    if (tokenType !== undefined && tokenType !== 'bearer' && tokenType !== 'access_token') {
      return refuse('The token is not an access token.');
    }
    if (introspection.iss !== undefined && !sameIssuer(introspection.iss, issuer)) {
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
    if (typeof introspection.exp === 'number' && introspection.exp <= now - tolerance) return refuse('The access token has expired.');
    if (typeof introspection.nbf === 'number' && introspection.nbf > now + tolerance) return refuse('The access token is not valid yet (nbf).');
    if (typeof introspection.sub !== 'string' || introspection.sub === '') return refuse('The access token names no subject (sub).');
    return {
      ok: true,
      token: {
        verifiedBy: 'introspection',
        provider: provider.config.id,
        issuer: provider.config.issuer,
        subject: introspection.sub,
        clientId: clientIdOf(introspection),
        scopes: scopesOf(introspection),
        expiresAt: expiresAtOf(introspection),
        claims: { ...introspection },
      },
    };
  }
}
