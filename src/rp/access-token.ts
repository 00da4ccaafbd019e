/**
 * An access token for the signed-in provider session, to call downstream APIs with: valid for at
 * least another minute (refreshed under the session's refresh lease when it would not be, so one
 * instance refreshes and a rotated refresh token is never spent twice), or exchanged for one meant
 * for another API (RFC 8693), kept per session and audience. The tokens never leave the server
 * but through this call; the web layer exposes it as `request.accessToken()`.
 */
import type { JWK } from 'jose';
import type { Db } from '../db/index.ts';
import { sha256Base64url } from '../digest.ts';
import { OidcConnectError } from '../errors.ts';
import type { ActiveSession } from '../sessions/index.ts';
import { findExchangedToken, keepExchangedToken } from '../sessions/exchanged-tokens.ts';
import { needsRefresh } from '../sessions/refresh-lease.ts';
import { dpopProof } from './dpop.ts';
import type { RelyingParty } from './index.ts';
import type { IssuedAccessToken, ProviderClient } from './provider.ts';
import { refreshSession } from './refresh.ts';
import type { ProviderTokens } from './session-tokens.ts';

/** An access token is handed out only with at least this long left. */
export const MIN_VALIDITY_MS = 60_000;

export interface AccessTokenOptions {
  /**
   * Another API's audience: the session's access token is exchanged for one meant for it (RFC 8693
   * token exchange, where the provider offers it), and that one is kept for the session's next calls.
   * @example await request.accessToken({ audience: 'api://reports', scope: 'reports:read' })
   */
  audience?: string;
  /** Space-separated scopes to ask for in the exchange (with or without `audience`). */
  scope?: string;
}

/** What a downstream call needs. */
export interface AccessToken {
  /** The access token itself. Never put it in a page or a cookie. */
  readonly token: string;
  /** `Bearer`, or `DPoP` when it is bound to the session's key (OIDC_DPOP): then every call needs a proof. */
  readonly type: 'Bearer' | 'DPoP';
  /** Epoch ms when it expires, when the provider said. */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  /**
   * The headers of a request to `url` with `method`: `Authorization`, and for a DPoP token a fresh
   * `DPoP` proof for exactly that method and URL (with `nonce` when the API asked for one with a
   * `DPoP-Nonce` header).
   * @example await fetch(url, { headers: await token.headers('GET', url) })
   */
  headers(method: string, url: string | URL, options?: { nonce?: string }): Promise<Record<string, string>>;
}

export interface AccessTokenContext {
  db: Db;
  rp: RelyingParty;
  httpTimeoutMs: number;
}

/**
 * The signed-in session's access token (see the module comment). Throws LOGIN_REQUIRED without a
 * session, NO_PROVIDER_TOKENS when the session has none to give, REFRESH_REFUSED when the provider
 * refused the refresh (the session has then ended), TOKEN_EXCHANGE_UNSUPPORTED or _REFUSED for an
 * exchange, and PROVIDER_* when the provider could not be asked.
 */
export async function sessionAccessToken(ctx: AccessTokenContext, session: ActiveSession | null, options: AccessTokenOptions = {}): Promise<AccessToken> {
  checkOptions(options);
  if (!session) throw new OidcConnectError('LOGIN_REQUIRED', 'Log in to get an access token.');
  const providerId = session.row.provider;
  if (providerId === null || !ctx.rp.providers.some((p) => p.id === providerId)) {
    throw new OidcConnectError('NO_PROVIDER_TOKENS', 'This session was not signed in through a provider, so it has no access token.');
  }
  const provider = ctx.rp.provider(providerId);
  const tokens = await freshTokens(ctx, provider, session);
  if (options.audience === undefined && options.scope === undefined) {
    return accessToken({ accessToken: tokens.accessToken!, tokenType: tokens.tokenType ?? 'Bearer', ...times(tokens) }, tokens.dpopKey);
  }
  return accessToken(await exchanged(ctx, provider, session, tokens, options), tokens.dpopKey);
}

function checkOptions(options: AccessTokenOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('accessToken: options must be an object such as { audience, scope }');
  for (const name of ['audience', 'scope'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) throw new TypeError(`accessToken: ${name} must be a non-empty string`);
  }
}

/** The session's tokens, refreshed first when the access token has less than MIN_VALIDITY_MS left. */
async function freshTokens(ctx: AccessTokenContext, provider: ProviderClient, session: ActiveSession): Promise<ProviderTokens> {
  if (needsRefresh(session.tokens, Date.now(), MIN_VALIDITY_MS)) {
    const { outcome, error } = await refreshSession(ctx.db, provider, session, { httpTimeoutMs: ctx.httpTimeoutMs, tokens: ctx.rp.tokens, marginMs: MIN_VALIDITY_MS });
    if (outcome === 'ended') {
      throw new OidcConnectError('REFRESH_REFUSED', `${provider.config.name} refused to renew this session's tokens, so the session has ended. Please log in again.`, { cause: error });
    }
    if (outcome === 'unavailable') {
      throw error ?? new OidcConnectError('PROVIDER_TIMEOUT', `The tokens of this session are being renewed with ${provider.config.name} elsewhere, and that took too long. Please try again.`);
    }
  }
  const tokens = await ctx.rp.tokens.open(session.tokens);
  if (tokens === undefined) {
    throw new OidcConnectError('NO_PROVIDER_TOKENS', 'This session\'s provider tokens can\'t be opened here: was SESSION_SECRET changed, or does this instance have another one?');
  }
  if (!tokens.accessToken) throw new OidcConnectError('NO_PROVIDER_TOKENS', 'This session holds no access token.');
  if (tokens.expiresAt !== undefined && tokens.expiresAt - Date.now() < MIN_VALIDITY_MS) {
    throw new OidcConnectError('NO_PROVIDER_TOKENS', `This session's access token expires within a minute and there is no refresh token to renew it (ask ${provider.config.name} for offline_access).`);
  }
  return tokens;
}

/** The session's token for another audience or scope: the one kept, while it has a minute left, else a new exchange. */
async function exchanged(ctx: AccessTokenContext, provider: ProviderClient, session: ActiveSession, tokens: ProviderTokens, options: AccessTokenOptions): Promise<IssuedAccessToken> {
  if (!(await provider.offersTokenExchange())) {
    throw new OidcConnectError('TOKEN_EXCHANGE_UNSUPPORTED', `${provider.config.name} does not offer token exchange (RFC 8693), so there is no token for ${options.audience ?? 'another scope'}; call the API with the session's own token, or turn token exchange on at the provider.`);
  }
  const key = sha256Base64url(`${options.audience ?? ''}\n${options.scope ?? ''}`);
  const kept = await findExchangedToken(ctx.db, session.id, key);
  if (kept && kept.expires - Date.now() >= MIN_VALIDITY_MS) {
    const opened = await ctx.rp.tokens.openExchanged(kept.sealed);
    if (opened) return opened;
  }
  // With DPoP the exchange carries a proof of the session's key, so the new token is bound to it too.
  const issued = await provider.exchange({ subjectToken: tokens.accessToken!, ...options, ...(tokens.dpopKey ? { dpopKey: tokens.dpopKey } : {}) });
  // A token without an expiry is not kept: nothing would say when it stops working.
  if (issued.expiresAt !== undefined) {
    await keepExchangedToken(ctx.db, session.id, key, { sealed: await ctx.rp.tokens.sealExchanged(issued), expires: issued.expiresAt });
  }
  return issued;
}

function times(tokens: ProviderTokens): Pick<IssuedAccessToken, 'expiresAt' | 'scope'> {
  return { ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}), ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}) };
}

/** A token bound to the session's key (token_type DPoP) gets its proofs made with that key. */
function accessToken(issued: IssuedAccessToken, dpopKey: JWK | undefined): AccessToken {
  const bound = issued.tokenType.toLowerCase() === 'dpop';
  if (bound && !dpopKey) throw new OidcConnectError('NO_PROVIDER_TOKENS', 'This session\'s access token is DPoP-bound, but the session holds no DPoP key.');
  return Object.freeze({
    token: issued.accessToken,
    type: bound ? 'DPoP' : 'Bearer',
    expiresAt: issued.expiresAt,
    scope: issued.scope,
    async headers(method: string, url: string | URL, options: { nonce?: string } = {}): Promise<Record<string, string>> {
      if (typeof method !== 'string' || !/^[A-Z]+$/.test(method)) throw new TypeError('headers: method must be an upper-case HTTP method such as GET');
      if (!URL.canParse(String(url))) throw new TypeError('headers: url must be an absolute URL');
      if (!bound) return { authorization: `Bearer ${issued.accessToken}` };
      const proof = await dpopProof(dpopKey!, { method, url, accessToken: issued.accessToken, ...(options.nonce !== undefined ? { nonce: options.nonce } : {}) });
      return { authorization: `DPoP ${issued.accessToken}`, dpop: proof };
    },
  });
}
