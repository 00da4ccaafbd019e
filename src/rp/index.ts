import { randomBytes } from 'node:crypto';
import type { Config, ProviderConfig } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import { sha256Base64url } from '../digest.ts';
import { ConfigError, OidcConnectError } from '../errors.ts';
import type { ActiveSession } from '../sessions/index.ts';
import { saveFlow, takeFlow } from './flows.ts';
import type { JSONWebKeySet } from 'jose';
import { keySet } from './client-auth.ts';
import { newDpopKey } from './dpop.ts';
import { ProviderClient, type SignInResult, type WarnLog } from './provider.ts';
import { SessionTokens } from './session-tokens.ts';

export interface CompletedSignIn extends SignInResult {
  provider: ProviderClient;
  next: string;
  /** A step-up sign-in (startLogin's `acrValues`): the caller checks that its `amr`/`acr` show a second factor. */
  stepUp: boolean;
}

/** The relying party: every configured provider, and the flows in progress (stored in the database). */
export interface RelyingParty {
  readonly providers: readonly ProviderConfig[];
  provider(id: string | undefined): ProviderClient;
  /** Seals and opens the provider tokens that sessions keep (under SESSION_SECRET). */
  readonly tokens: SessionTokens;
  /**
   * Starts a login; returns the provider URL to redirect the browser to. With `renewsSession` (a
   * session id) it is that session's silent renewal: prompt=none, and a login_required answer ends it.
   * `client` (the browser's address) caps the logins in progress of one address (OIDC_PENDING_LOGINS_PER_IP).
   * `newBinding`: `binding` was just made for this login (see saveFlow).
   * `acrValues` (a step-up) and `maxAge` are sent to the provider; `maxAge` is then checked against
   * the ID token's auth_time.
   */
  startLogin(input: {
    provider?: string; next: string; binding: string; newBinding?: boolean; client?: string; renewsSession?: string;
    acrValues?: readonly string[]; maxAge?: number;
  }): Promise<URL>;
  /** Finishes a login from the callback URL, with the browser's binding cookie. */
  finishLogin(callbackUrl: URL, binding: string | undefined): Promise<CompletedSignIn>;
  /** Where to send the browser after the local session ended: the provider's logout, or null. */
  logoutUrl(session: ActiveSession): Promise<string | null>;
  /** Every provider's OIDC_RP_PRIVATE_KEY public keys, for /.well-known/jwks.json. */
  publicJwks(): Promise<JSONWebKeySet>;
}

/** The provider would not renew the session without the user: log in again, then go to `next`. */
export class ReauthenticationRequired extends OidcConnectError {
  readonly next: string;
  /** The id of the session the renewal was for: the one to end. */
  readonly sessionId: string;
  constructor(provider: string, next: string, sessionId: string, options: { cause: unknown }) {
    super('LOGIN_REQUIRED', `Your ${provider} session has ended. Please log in again.`, options);
    this.next = next;
    this.sessionId = sessionId;
  }
}

/**
 * RFC 7636's S256 code challenge: BASE64URL(SHA-256(verifier)). openid-client computes the same
 * through WebCrypto, whose asynchronous job cost more than the hash itself at every login start.
 */
export function pkceChallenge(codeVerifier: string): string {
  return sha256Base64url(codeVerifier);
}

/**
 * A login's state, nonce and PKCE code verifier: 32 random bytes each, base64url, as openid-client's
 * randomState(), randomNonce() and randomPKCECodeVerifier() make them, from one call to the CSPRNG
 * instead of three (each call cost some 7 µs here, more than drawing the bytes).
 */
function flowSecrets(): { state: string; nonce: string; codeVerifier: string } {
  const random = randomBytes(96);
  return {
    state: random.toString('base64url', 0, 32),
    nonce: random.toString('base64url', 32, 64),
    codeVerifier: random.toString('base64url', 64, 96),
  };
}

/** `log` (the app's logger) hears of a provider that needed client_secret_post after refusing Basic. */
export function createRelyingParty(config: Config, db: Db, log?: WarnLog): RelyingParty {
  const clients = new Map(config.providers.map((p) => [p.id, new ProviderClient(p, log ? { ...config, log } : config)]));

  const provider = (id: string | undefined): ProviderClient => {
    const found = id === undefined || id === '' ? clients.values().next().value : clients.get(id);
    if (!found) throw new OidcConnectError('PROVIDER_NOT_CONFIGURED', 'That sign-in provider is not configured here.');
    return found;
  };

  if (config.sessionSecret === '') {
    throw new ConfigError(['SESSION_SECRET: the relying party seals the provider tokens it keeps with it; set SESSION_SECRET, or pass withSessionSecret(loadConfig()), as createRuntime and startServer do']);
  }
  const tokens = new SessionTokens(config.sessionSecret);

  return {
    providers: config.providers,
    provider,
    tokens,

    async startLogin({ provider: id, next, binding, newBinding, client: address, renewsSession, acrValues, maxAge }) {
      const target = provider(id);
      const { state, nonce, codeVerifier } = flowSecrets();
      // OIDC_DPOP: each sign-in its own key, which becomes its session's.
      const dpopKey = target.config.dpop ? await newDpopKey(await target.dpopAlgorithm()) : undefined;
      const url = await target.authorizationUrl({
        state, nonce, promptNone: renewsSession !== undefined, codeChallenge: pkceChallenge(codeVerifier),
        ...(acrValues ? { acrValues } : {}), ...(maxAge === undefined ? {} : { maxAge }), ...(dpopKey ? { dpopKey } : {}),
      });
      const flow = {
        provider: target.config.id, codeVerifier, nonce, next, renewsSession: renewsSession ?? null,
        acrValues: acrValues ?? null, maxAge: maxAge ?? null,
        dpopKey: dpopKey ? await tokens.sealDpopKey(dpopKey) : null,
      };
      await saveFlow(db, state, binding, flow,
        { newBinding, ...(address === undefined ? {} : { client: address, maxPerClient: config.pendingLoginsPerIp }) });
      return url;
    },

    async finishLogin(callbackUrl, binding) {
      const state = callbackUrl.searchParams.get('state');
      if (!state || state.length > 512) {
        throw new OidcConnectError('STATE_INVALID', 'The sign-in response carries no valid state. Please start again.');
      }
      const flow = await takeFlow(db, state, binding);
      const target = provider(flow.provider);
      const dpopKey = flow.dpopKey === null ? undefined : await tokens.openDpopKey(flow.dpopKey);
      if (flow.dpopKey !== null && dpopKey === undefined) {
        throw new OidcConnectError('STATE_INVALID', 'This sign-in was started by an instance with another SESSION_SECRET, so it can\'t be finished here. Please start again.');
      }
      try {
        const result = await target.finish(callbackUrl, {
          state, nonce: flow.nonce, codeVerifier: flow.codeVerifier,
          ...(typeof flow.maxAge === 'number' ? { maxAge: flow.maxAge } : {}), ...(dpopKey ? { dpopKey } : {}),
        });
        return { ...result, provider: target, next: flow.next, stepUp: Boolean(flow.acrValues) };
      } catch (error) {
        // A silent renewal the provider can't satisfy (login_required…) means its session is over.
        if (flow.renewsSession !== null && error instanceof OidcConnectError && error.code === 'PROVIDER_ERROR') {
          throw new ReauthenticationRequired(target.config.name, flow.next, flow.renewsSession, { cause: error });
        }
        throw error;
      }
    },

    async logoutUrl(session) {
      if (!session.row.provider || !clients.has(session.row.provider)) return null;
      // Tokens that can't be opened (another SESSION_SECRET) give a logout without id_token_hint.
      return provider(session.row.provider).endSessionUrl((await tokens.open(session.tokens))?.idToken);
    },

    async publicJwks() {
      return keySet(await Promise.all([...clients.values()].map((c) => c.publicKeys())));
    },
  };
}
