/** Provider tokens, kept in the session row on the server, never in the cookie. */
export interface ProviderTokens {
  idToken?: string;
  accessToken?: string;
  refreshToken?: string;
  /** Epoch ms when the access token expires. */
  expiresAt?: number;
  scope?: string;
  /** Epoch ms after which a provider without refresh tokens is asked again silently (prompt=none). */
  renewAt?: number;
}
