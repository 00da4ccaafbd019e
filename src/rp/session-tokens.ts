/**
 * A session's provider tokens, sealed for its row: the ID, access and refresh tokens and the DPoP key
 * are one compact JWE under a key derived from SESSION_SECRET (src/sealed.ts), so whoever reads the
 * sessions table can neither use nor alter them. Their times stay in the clear (sessions/tokens.ts),
 * so a page only parses JSON; the tokens are opened when something needs them (a refresh, an access
 * token for a downstream call, logout), once per stored value.
 */
import type { JWK } from 'jose';
import { sealer, type Sealer } from '../sealed.ts';
import type { StoredTokens } from '../sessions/index.ts';
import type { IssuedAccessToken } from './provider.ts';

/** A provider session's tokens in the clear, as rp/ uses them. */
export interface ProviderTokens {
  idToken?: string;
  accessToken?: string;
  refreshToken?: string;
  /** The token_type the provider gave: `DPoP` when the access token is bound to `dpopKey` (RFC 9449). */
  tokenType?: string;
  /** Epoch ms when the access token expires. */
  expiresAt?: number;
  scope?: string;
  /** Epoch ms after which a provider without refresh tokens is asked again silently (prompt=none). */
  renewAt?: number;
  /** With OIDC_DPOP: the session's DPoP key, a private JWK. */
  dpopKey?: JWK;
}

/** The part of ProviderTokens that is sealed. */
type Secrets = Pick<ProviderTokens, 'idToken' | 'accessToken' | 'refreshToken' | 'tokenType' | 'dpopKey'>;

export class SessionTokens {
  readonly #box: Sealer;
  readonly #exchanged: Sealer;
  readonly #dpopKeys: Sealer;
  /** What each stored value opens to; a cached session's frozen value is opened once for all its requests. */
  readonly #opened = new WeakMap<StoredTokens, Promise<ProviderTokens | undefined>>();

  /** `secret`: SESSION_SECRET. */
  constructor(secret: string) {
    this.#box = sealer(secret, 'session tokens');
    this.#exchanged = sealer(secret, 'exchanged tokens');
    this.#dpopKeys = sealer(secret, 'dpop key');
  }

  /** A sign-in's DPoP key (a private JWK), sealed for its flow row until the callback, on whichever instance. */
  sealDpopKey(jwk: JWK): Promise<string> {
    return this.#dpopKeys.seal(JSON.stringify(jwk));
  }

  /** undefined when it can't be opened (another SESSION_SECRET, or altered). */
  async openDpopKey(sealed: string): Promise<JWK | undefined> {
    const text = await this.#dpopKeys.open(sealed);
    return text === undefined ? undefined : JSON.parse(text) as JWK;
  }

  /** A token got by token exchange, sealed for sessions/exchanged-tokens.ts. */
  sealExchanged(token: IssuedAccessToken): Promise<string> {
    return this.#exchanged.seal(JSON.stringify(token));
  }

  /** undefined when it can't be opened (another SESSION_SECRET): it is then asked for again. */
  async openExchanged(sealed: string): Promise<IssuedAccessToken | undefined> {
    const text = await this.#exchanged.open(sealed);
    return text === undefined ? undefined : JSON.parse(text) as IssuedAccessToken;
  }

  /** The tokens as a row keeps them. */
  async seal(tokens: ProviderTokens): Promise<StoredTokens> {
    const { idToken, accessToken, refreshToken, tokenType, dpopKey, expiresAt, scope, renewAt } = tokens;
    const secrets: Secrets = { idToken, accessToken, refreshToken, tokenType, dpopKey };
    const stored: StoredTokens = Object.freeze({
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      ...(renewAt !== undefined ? { renewAt } : {}),
      ...(scope !== undefined ? { scope } : {}),
      ...(refreshToken !== undefined ? { refreshable: true } : {}),
      sealed: await this.#box.seal(JSON.stringify(secrets)),
    });
    this.#opened.set(stored, Promise.resolve(tokens));
    return stored;
  }

  /**
   * The tokens of a stored value (none for a local session); undefined when they can't be opened:
   * sealed under another SESSION_SECRET, or altered. A row from before sealing is read as it was.
   */
  open(stored: StoredTokens): Promise<ProviderTokens | undefined> {
    let opened = this.#opened.get(stored);
    if (opened === undefined) {
      opened = this.#open(stored);
      this.#opened.set(stored, opened);
    }
    return opened;
  }

  async #open(stored: StoredTokens): Promise<ProviderTokens | undefined> {
    const { expiresAt, renewAt, scope } = stored;
    const times = {
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      ...(renewAt !== undefined ? { renewAt } : {}),
      ...(scope !== undefined ? { scope } : {}),
    };
    if (stored.legacy) return { ...stored.legacy, ...times };
    if (stored.sealed === undefined) return times;
    const text = await this.#box.open(stored.sealed);
    return text === undefined ? undefined : { ...(JSON.parse(text) as Secrets), ...times };
  }
}
