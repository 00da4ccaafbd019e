import * as client from 'openid-client';
import type { ProviderConfig } from '../config/index.ts';
import type { TokenAuthMethod } from '../config/types.ts';
import { isLoopbackHost } from '../config/parse.ts';
import { ConfigError, OidcConnectError } from '../errors.ts';
import { toMetadataLookupError, toSignInError } from './errors.ts';
import type { JSONWebKeySet, JWK } from 'jose';
import { ClientCredentials } from './client-auth.ts';
import { dpopAlgorithm, dpopHandle } from './dpop.ts';
import { endpointOf, providerFetch } from './http.ts';
import { sameIssuer } from './issuer.ts';
import { JwksCache } from './jwks.ts';

export interface ProviderOptions {
  appUrl: string;
  clockToleranceSeconds: number;
  httpTimeoutMs: number;
  /** Where a provider's one-time switch to client_secret_post is reported; default process.emitWarning. */
  log?: WarnLog;
}

/** The one logger call used here; a pino or Fastify logger fits. */
export interface WarnLog {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface SignInResult {
  claims: client.IDToken;
  userinfo: Record<string, unknown>;
  tokens: { idToken: string; accessToken: string; refreshToken?: string; tokenType?: string; expiresAt?: number; scope?: string; dpopKey?: JWK };
}

/** RFC 8693's grant type, and its URI for an access token. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** An access token a provider issued to us (token exchange). */
export interface IssuedAccessToken {
  accessToken: string;
  tokenType: string;
  /** Epoch ms. */
  expiresAt?: number;
  scope?: string;
}

/** The provider's discovery document, as openid-client reads it (re-exported so that only rp/ imports openid-client). */
export type ServerMetadata = client.ServerMetadata;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One OpenID provider: discovery (cached), the login URL, the callback's token exchange with every
 * ID token check, userinfo, and RP-initiated logout.
 */
export class ProviderClient {
  readonly config: ProviderConfig;
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
  private readonly options: ProviderOptions;
  private readonly insecure: boolean;
  private metadata: Promise<ServerMetadata> | undefined;
  /** The metadata once discovered, which names each endpoint a request goes to (endpointOf). */
  private discovered: ServerMetadata | undefined;
  private jwks: JwksCache | undefined;
  private readonly credentials: ClientCredentials;

  constructor(config: ProviderConfig, options: ProviderOptions) {
    this.config = config;
    this.options = options;
    this.redirectUri = `${options.appUrl}/authorization-code/callback`;
    this.postLogoutRedirectUri = `${options.appUrl}/signout/callback`;
    const issuer = new URL(config.issuer);
    this.insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
    this.credentials = new ClientCredentials(config);
  }

  /** Discovery from the issuer URL (so openid-client compares the issuer), cached once it succeeds. */
  serverMetadata(): Promise<ServerMetadata> {
    this.metadata ??= this.discover().catch((error: unknown) => {
      this.metadata = undefined; // a provider that was down is asked again next time
      throw toSignInError(error, 'discovery', this.config);
    });
    return this.metadata;
  }

  /**
   * The provider's JWKS cache (after discovery), shared by our own jose verifiers (logout tokens,
   * bearer tokens) so every verifier re-uses one fetch and one unknown-kid cooldown.
   */
  async jwksCache(): Promise<JwksCache> {
    await this.serverMetadata();
    return this.jwks!;
  }

  private async discover(): Promise<ServerMetadata> {
    const discovered = await client.discovery(new URL(this.config.issuer), this.config.clientId, undefined, undefined, {
      timeout: this.options.httpTimeoutMs / 1000,
      [client.customFetch]: this.discoveryFetch,
      ...(this.insecure ? { execute: [client.allowInsecureRequests] } : {}),
    });
    const metadata: Mutable<ServerMetadata> = { ...discovered.serverMetadata() };
    const { endpoints, signAlgs } = this.config;
    if (endpoints.authorization) metadata.authorization_endpoint = endpoints.authorization;
    if (endpoints.token) metadata.token_endpoint = endpoints.token;
    if (endpoints.userinfo) metadata.userinfo_endpoint = endpoints.userinfo;
    if (endpoints.jwks) metadata.jwks_uri = endpoints.jwks;
    if (endpoints.introspection) metadata.introspection_endpoint = endpoints.introspection;
    // openid-client accepts only the algorithms listed here; `none` and MACs keyed by a public key never qualify.
    const advertised = metadata.id_token_signing_alg_values_supported ?? ['RS256'];
    const allowed = (signAlgs.length > 0 ? signAlgs : advertised).filter((alg) => alg !== 'none' && !alg.startsWith('HS'));
    metadata.id_token_signing_alg_values_supported = allowed.length > 0 ? allowed : ['RS256'];
    if (!metadata.jwks_uri) throw new OidcConnectError('PROVIDER_BAD_RESPONSE', `${this.config.name} publishes no jwks_uri, so ID token signatures can't be checked.`);
    this.jwks ??= new JwksCache(metadata.jwks_uri, this.options.httpTimeoutMs, this.config.issuer);
    this.discovered = metadata;
    return metadata;
  }

  /**
   * openid-client keys its own JWKS cache by the Configuration and re-fetches an unknown kid only
   * when that cache is 60 s old. Each Configuration is seeded with our cache marked 61 s old, so an
   * unknown kid goes through `fetchHook`, where our cooldown applies. (That 60 s is oauth4webapi's
   * rule, not its API: test/openid-client-contract.test.ts checks it at every upgrade.) Building one costs a JWKS
   * clone and key imports, so it is reused until the hook was used, our JWKS changed, or it is a
   * minute old (when openid-client's own copy would stop deferring to us).
   */
  private async configuration(auth?: TokenAuthMethod): Promise<client.Configuration> {
    const metadata = await this.serverMetadata();
    auth ??= this.tokenAuthMethod(metadata);
    const jwks = this.jwks?.current();
    const now = Date.now();
    const reusable = this.reusable;
    if (reusable && reusable.auth === auth && reusable.jwks === jwks && now - reusable.at < 55_000) return reusable.configuration;
    const configuration = new client.Configuration(metadata, this.config.clientId, {
      ...(this.config.clientSecret === undefined ? {} : { client_secret: this.config.clientSecret }),
      [client.clockTolerance]: this.options.clockToleranceSeconds,
    }, await this.credentials.clientAuth(auth, metadata));
    // No timeout of openid-client's (an AbortSignal.timeout per request): fetchHook gives each request its own, cheaper one.
    configuration.timeout = 0;
    configuration[client.customFetch] = this.fetchHook;
    if (this.insecure) client.allowInsecureRequests(configuration);
    client.enableNonRepudiationChecks(configuration);
    if (jwks) client.setJwksCache(configuration, { jwks, uat: Math.floor(now / 1000) - 61 });
    this.reusable = { configuration, jwks, at: now, auth };
    return configuration;
  }

  private reusable: { configuration: client.Configuration; jwks: JSONWebKeySet | undefined; at: number; auth: TokenAuthMethod } | undefined;

  /** The configured method; else post once Basic was refused, or when the provider lists post but not Basic; else Basic. */
  private tokenAuthMethod(metadata: ServerMetadata): TokenAuthMethod {
    if (this.config.tokenAuthMethod) return this.config.tokenAuthMethod;
    const methods = metadata.token_endpoint_auth_methods_supported;
    return this.basicRefused || (methods && !methods.includes('client_secret_basic') && methods.includes('client_secret_post'))
      ? 'client_secret_post'
      : 'client_secret_basic';
  }

  /**
   * Set when the provider refused Basic and then accepted post (LemonLDAP::NG never percent-decodes
   * the Basic credentials that RFC 6749 §2.3.1 has us encode). Kept in memory only: another process
   * learns it from its own first refusal, which costs one request and no sign-in, because a provider
   * authenticates the client before it looks at the code or refresh token (RFC 6749 §3.2.1, §4.1.3).
   */
  private basicRefused = false;

  /**
   * A request with our client credentials (code exchange, refresh, introspection). Refused with
   * invalid_client under Basic, chosen automatically, by a provider that also lists
   * client_secret_post: tried once more with post, kept from then on when the provider accepts it.
   */
  private async withClientAuth<T>(request: (configuration: client.Configuration) => Promise<T>): Promise<T> {
    const metadata = await this.serverMetadata();
    const auth = this.tokenAuthMethod(metadata);
    try {
      return await request(await this.configuration(auth));
    } catch (error) {
      const retry = auth === 'client_secret_basic' && this.config.tokenAuthMethod === undefined
        && metadata.token_endpoint_auth_methods_supported?.includes('client_secret_post') && this.refusesClient(error);
      if (!retry) throw error;
    }
    try {
      const result = await request(await this.configuration('client_secret_post'));
      this.keepPost();
      return result;
    } catch (error) {
      if (!this.refusesClient(error)) this.keepPost(); // e.g. invalid_grant: the client itself was accepted
      throw error;
    }
  }

  private refusesClient(error: unknown): boolean {
    return toSignInError(error, 'token', this.config).code === 'CLIENT_AUTH_FAILED';
  }

  private keepPost(): void {
    if (this.basicRefused) return;
    this.basicRefused = true;
    const message = `${this.config.name} refused our client credentials sent with client_secret_basic (invalid_client) and accepted `
      + 'client_secret_post, which this process uses for it from now on. Set OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post '
      + '(tokenAuthMethod in oidc-connect.config.json) to skip the refused request.';
    if (this.options.log) this.options.log.warn({ provider: this.config.id, tokenAuthMethod: 'client_secret_post' }, message);
    else process.emitWarning(message);
  }

  /**
   * Every request openid-client makes with a Configuration of ours, each bounded by OIDC_HTTP_TIMEOUT_SECONDS.
   * openid-client asks for the JWKS when we seeded no fresh copy (a routine fetch) or when the
   * token's kid is not in the copy we seeded (rate-limited by the cache's unknown-kid cooldown).
   */
  private readonly fetchHook: client.CustomFetch = async (url, options) => {
    if (this.jwks && url === this.jwks.url.href) {
      this.reusable = undefined; // that Configuration's own JWKS copy is fresh now; the next one defers to us again
      return Response.json(this.jwks.current() ? await this.jwks.refreshForUnknownKid() : await this.jwks.load());
    }
    const call = { issuer: this.config.issuer, endpoint: endpointOf(this.discovered, url) };
    return providerFetch(url, { ...options, timeoutMs: this.options.httpTimeoutMs, call });
  };

  /** openid-client's discovery requests, named as such for the span and the metrics. */
  private readonly discoveryFetch: client.CustomFetch = (url, options) =>
    providerFetch(url, { ...options, call: { issuer: this.config.issuer, endpoint: 'discovery' } });

  /**
   * The URL that sends the browser to the provider. With PAR (OIDC_USE_PAR) the parameters are pushed
   * first, the client authenticating as at the token endpoint (RFC 9126 §2), and the browser carries
   * only the request_uri; otherwise they ride in the query. `acrValues` and `maxAge`: a step-up's
   * request for a (fresh) multi-factor sign-in.
   */
  async authorizationUrl(params: {
    state: string; nonce: string; codeChallenge: string; promptNone: boolean; acrValues?: readonly string[]; maxAge?: number; dpopKey?: JWK;
  }): Promise<URL> {
    const metadata = await this.serverMetadata();
    this.requireFeatures(metadata);
    const own: Record<string, string> = { state: params.state, nonce: params.nonce, code_challenge: params.codeChallenge };
    if (params.promptNone) own['prompt'] = 'none';
    if (params.acrValues) own['acr_values'] = params.acrValues.join(' ');
    if (params.maxAge !== undefined) own['max_age'] = String(params.maxAge);
    const { dpopKey } = params;
    if (this.pushes(metadata)) {
      try {
        // With DPoP, the proof sent with the pushed request binds the code to the sign-in's key (RFC 9449 §10.1).
        return await this.withClientAuth(async (configuration) => client.buildAuthorizationUrlWithPAR(configuration, {
          redirect_uri: this.redirectUri, scope: this.config.scopes.join(' '), code_challenge_method: 'S256', ...own,
        }, dpopKey ? { DPoP: await dpopHandle(configuration, dpopKey) } : undefined));
      } catch (error) {
        throw toSignInError(error, 'par', this.config);
      }
    }
    // Without PAR, dpop_jkt (the key's thumbprint) binds it (RFC 9449 §10).
    if (dpopKey) own['dpop_jkt'] = await (await dpopHandle(await this.configuration(), dpopKey)).calculateThumbprint();
    const configuration = await this.configuration();
    // The parameters every login sends are put in by openid-client once per Configuration; a login
    // adds its own. (Building the whole URL each time re-serialised its query at every parameter.)
    if (this.authorizationBase?.configuration !== configuration) {
      this.authorizationBase = {
        configuration,
        href: client.buildAuthorizationUrl(configuration, {
          redirect_uri: this.redirectUri,
          scope: this.config.scopes.join(' '),
          code_challenge_method: 'S256',
        }).href,
      };
    }
    return new URL(`${this.authorizationBase.href}&${new URLSearchParams(own)}`);
  }

  private authorizationBase: { configuration: client.Configuration; href: string } | undefined;

  /** OIDC_USE_PAR: `on`, or `auto` where the provider lists a PAR endpoint. */
  pushes(metadata: ServerMetadata): boolean {
    const mode = this.config.par ?? 'auto';
    return mode === 'on' || (mode === 'auto' && metadata.pushed_authorization_request_endpoint !== undefined);
  }

  /**
   * What the configuration asks of the provider that its metadata does not offer: a ConfigError
   * naming the setting. Run at start when the provider answers then (web/runtime.ts), at every
   * login start otherwise, and by `check`.
   */
  requireFeatures(metadata: ServerMetadata): void {
    const problems: string[] = [];
    if (this.config.par === 'on' && !metadata.pushed_authorization_request_endpoint) {
      problems.push(`OIDC_USE_PAR=on: ${this.config.name} (${this.config.issuer}) lists no pushed_authorization_request_endpoint, so authorization requests can't be pushed; set OIDC_USE_PAR=auto (or off), or turn PAR on at the provider`);
    }
    if (this.config.dpop && dpopAlgorithm(metadata) === undefined) {
      const listed = metadata.dpop_signing_alg_values_supported;
      problems.push(listed
        ? `OIDC_DPOP=on: ${this.config.name} (${this.config.issuer}) takes DPoP proofs signed ${listed.join(', ')} only, none of which oidc-connect makes (ES256, Ed25519, PS256, RS256); set OIDC_DPOP=off`
        : `OIDC_DPOP=on: ${this.config.name} (${this.config.issuer}) lists no dpop_signing_alg_values_supported, so it does not take DPoP proofs; set OIDC_DPOP=off, or turn DPoP on at the provider`);
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /** With OIDC_DPOP: the algorithm a sign-in's key is made for (the provider's metadata decides). */
  async dpopAlgorithm(): Promise<string> {
    const metadata = await this.serverMetadata();
    this.requireFeatures(metadata);
    return dpopAlgorithm(metadata)!;
  }

  /** Checks requireFeatures against the provider's metadata when it answers; when it doesn't, the first sign-in will. */
  async checkFeatures(): Promise<void> {
    let metadata: ServerMetadata;
    try {
      metadata = await this.serverMetadata();
    } catch {
      return;
    }
    this.requireFeatures(metadata);
  }

  /**
   * Exchanges the code and runs every check; `callbackUrl` is built from APP_URL, never from Host.
   * With `dpopKey` (the sign-in's), the token request and userinfo carry proofs made with it.
   */
  async finish(callbackUrl: URL, checks: {
    state: string; nonce: string; codeVerifier: string; maxAge?: number; dpopKey?: JWK;
  }): Promise<SignInResult> {
    let configuration!: client.Configuration;
    let dpop: client.DPoPHandle | undefined;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await this.withClientAuth(async (used) => {
        configuration = used;
        dpop = checks.dpopKey ? await dpopHandle(used, checks.dpopKey) : undefined;
        return client.authorizationCodeGrant(used, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
          // openid-client then requires auth_time, and refuses one older than max_age.
          ...(checks.maxAge === undefined ? {} : { maxAge: checks.maxAge }),
        }, undefined, { redirectUri: this.redirectUri, ...(dpop ? { DPoP: dpop } : {}) } as client.AuthorizationCodeGrantOptions);
      });
    } catch (error) {
      throw toSignInError(error, error instanceof client.AuthorizationResponseError ? 'authorization' : 'token', this.config);
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new OidcConnectError('ID_TOKEN_INVALID', `${this.config.name} sent no ID token.`);
    // openid-client checks only that iat is a number; a token "issued" in the future is refused here.
    // openid-client compares azp only when aud has several values; a token for another client is refused here.
    if (claims.azp !== undefined && claims.azp !== this.config.clientId) {
      throw new OidcConnectError('ID_TOKEN_INVALID', `${this.config.name} sent an ID token authorized for another client (azp).`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iat > now + this.options.clockToleranceSeconds) {
      throw new OidcConnectError('ID_TOKEN_INVALID', `${this.config.name} sent an ID token issued in the future (iat). Check the clocks.`);
    }

    let userinfo: Record<string, unknown> = {};
    // Our copy of the metadata: Configuration.serverMetadata() returns a structuredClone at each call.
    if ((await this.serverMetadata()).userinfo_endpoint) {
      try {
        userinfo = { ...(await client.fetchUserInfo(configuration, tokens.access_token, claims.sub, dpop ? { DPoP: dpop } : undefined)) };
      } catch (error) {
        throw toSignInError(error, 'userinfo', this.config);
      }
    }
    const expiresIn = tokens.expiresIn();
    return {
      claims,
      userinfo,
      tokens: {
        idToken: tokens.id_token,
        accessToken: tokens.access_token,
        tokenType: tokens.token_type,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
        ...(expiresIn !== undefined ? { expiresAt: Date.now() + expiresIn * 1000 } : {}),
        ...(tokens.scope ? { scope: tokens.scope } : {}),
        ...(checks.dpopKey ? { dpopKey: checks.dpopKey } : {}),
      },
    };
  }

  /**
   * Trades a refresh token for new tokens. The provider may rotate the refresh token; the old ID
   * token is kept when no new one comes, because logout needs one as id_token_hint.
   */
  async refresh(current: { refreshToken: string; idToken?: string; dpopKey?: JWK }): Promise<SignInResult['tokens']> {
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await this.withClientAuth(async (configuration) => client.refreshTokenGrant(configuration, current.refreshToken, undefined,
        current.dpopKey ? { DPoP: await dpopHandle(configuration, current.dpopKey) } : undefined));
    } catch (error) {
      throw toSignInError(error, 'token', this.config);
    }
    const expiresIn = tokens.expiresIn();
    const idToken = tokens.id_token ?? current.idToken;
    return {
      idToken: idToken ?? '',
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      refreshToken: tokens.refresh_token ?? current.refreshToken,
      ...(expiresIn !== undefined ? { expiresAt: Date.now() + expiresIn * 1000 } : {}),
      ...(tokens.scope ? { scope: tokens.scope } : {}),
    };
  }

  /** Whether the provider's metadata lists RFC 8693 token exchange. */
  async offersTokenExchange(): Promise<boolean> {
    return (await this.serverMetadata()).grant_types_supported?.includes(TOKEN_EXCHANGE) === true;
  }

  /**
   * RFC 8693 token exchange: a user's access token (`subjectToken`) for one meant for `audience`,
   * with `scope`. A refusal is TOKEN_EXCHANGE_REFUSED with the provider's error; a refused client,
   * CLIENT_AUTH_FAILED.
   */
  async exchange(input: { subjectToken: string; audience?: string; scope?: string; dpopKey?: JWK }): Promise<IssuedAccessToken> {
    let tokens: Awaited<ReturnType<typeof client.genericGrantRequest>>;
    try {
      tokens = await this.withClientAuth(async (configuration) => client.genericGrantRequest(configuration, TOKEN_EXCHANGE, {
        subject_token: input.subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_token_type: ACCESS_TOKEN_TYPE,
        ...(input.audience !== undefined ? { audience: input.audience } : {}),
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
      }, input.dpopKey ? { DPoP: await dpopHandle(configuration, input.dpopKey) } : undefined));
    } catch (error) {
      const mapped = toSignInError(error, 'token', this.config);
      if (mapped.code !== 'PROVIDER_ERROR') throw mapped;
      const refusal = error instanceof client.ResponseBodyError ? `${error.error}${error.error_description ? `: ${error.error_description}` : ''}` : mapped.message;
      throw new OidcConnectError('TOKEN_EXCHANGE_REFUSED', `${this.config.name} refused to exchange the access token${input.audience ? ` for ${input.audience}` : ''} (${refusal}).`, { cause: error });
    }
    const expiresIn = tokens.expiresIn();
    return {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      ...(expiresIn !== undefined ? { expiresAt: Date.now() + expiresIn * 1000 } : {}),
      ...(tokens.scope ? { scope: tokens.scope } : {}),
    };
  }

  /** The provider's logout URL, or null when it has no end_session_endpoint (logout stays local). */
  async endSessionUrl(idToken: string | undefined): Promise<string | null> {
    let configuration: client.Configuration;
    try {
      configuration = await this.configuration();
    } catch {
      return null; // the provider being down must not block a local logout
    }
    if (!(await this.serverMetadata()).end_session_endpoint) return null;
    return client.buildEndSessionUrl(configuration, {
      post_logout_redirect_uri: this.postLogoutRedirectUri,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).href;
  }

  /** The public halves of OIDC_RP_PRIVATE_KEY's keys, with their kids; empty without keys. */
  publicKeys(): Promise<JWK[]> {
    return this.credentials.publicKeys();
  }

  /** The algorithm private_key_jwt assertions are signed with (it may depend on the metadata). */
  async assertionAlgorithm(): Promise<string> {
    return this.credentials.assertionAlgorithm(await this.serverMetadata());
  }

  // --- Bearer access tokens (src/rp/bearer/) ---

  /**
   * The discovered issuer and this provider's one cached JWKS (jose's remote key set: an unknown
   * kid re-fetches at most once per cooldown), for verifying JWT access tokens locally.
   */
  async accessTokenKeys(): Promise<{ issuer: string; keys: JwksCache['getKey'] }> {
    const metadata = await this.serverMetadata();
    if (!this.jwks) throw new OidcConnectError('PROVIDER_BAD_RESPONSE', `${this.config.name} publishes no jwks_uri.`);
    return { issuer: metadata.issuer, keys: this.jwks.getKey };
  }

  /** RFC 7662 introspection with the client's credentials; null when the provider has no endpoint. */
  async introspect(token: string): Promise<client.IntrospectionResponse | null> {
    if (!(await this.introspectionEndpoint())) return null;
    return this.withClientAuth((configuration) => client.tokenIntrospection(configuration, token));
  }

  private oauthMetadata: Promise<void> | undefined;

  /**
   * OIDC_OP_INTROSPECTION_ENDPOINT or OpenID discovery (see discover()), else the provider's RFC 8414
   * metadata, where django-oauth-toolkit lists it. That document is fetched at the first opaque
   * token; a provider that could not answer is asked again next time, one without it is not.
   */
  private async introspectionEndpoint(): Promise<string | undefined> {
    const metadata = await this.serverMetadata();
    if (!metadata.introspection_endpoint) {
      this.oauthMetadata ??= this.completeFromOAuthMetadata(metadata as Mutable<ServerMetadata>).catch((error: unknown) => {
        this.oauthMetadata = undefined;
        throw error;
      });
      await this.oauthMetadata;
    }
    return metadata.introspection_endpoint;
  }

  /**
   * RFC 8414 §3 puts /.well-known/oauth-authorization-server between the host and the issuer's path;
   * django-oauth-toolkit, included under its prefix as its docs show, serves it after the path
   * (/o/.well-known/oauth-authorization-server). Both are tried, and the document must name our issuer.
   */
  private async completeFromOAuthMetadata(metadata: Mutable<ServerMetadata>): Promise<void> {
    const issuer = new URL(this.config.issuer);
    const places = issuer.pathname === '/'
      ? [issuer]
      : [issuer, new URL(`${issuer.href.replace(/\/$/, '')}/.well-known/oauth-authorization-server`)];
    for (const place of places) {
      let found: ServerMetadata;
      try {
        found = (await client.discovery(place, this.config.clientId, undefined, undefined, {
          algorithm: 'oauth2',
          timeout: this.options.httpTimeoutMs / 1000,
          [client.customFetch]: this.discoveryFetch,
          ...(this.insecure ? { execute: [client.allowInsecureRequests] } : {}),
        })).serverMetadata();
      } catch (error) {
        const failure = toMetadataLookupError(error, this.config);
        if (failure === 'absent') continue;
        throw failure;
      }
      // openid-client compares the issuer only for the URL it builds itself, so it is compared here.
      if (!found.introspection_endpoint || !sameIssuer(found.issuer, metadata.issuer)) continue;
      metadata.introspection_endpoint = found.introspection_endpoint;
      this.reusable = undefined; // the next Configuration carries the endpoint
      return;
    }
  }

  /** Userinfo for an access token whose subject is not known yet; null when there is no endpoint. */
  async userinfoForToken(accessToken: string): Promise<Record<string, unknown> | null> {
    const configuration = await this.configuration();
    if (!(await this.serverMetadata()).userinfo_endpoint) return null;
    return { ...(await client.fetchUserInfo(configuration, accessToken, client.skipSubjectCheck)) };
  }
}
