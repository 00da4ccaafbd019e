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

/**
 * A session's provider tokens, parsed from its row's JSON at the first call and then kept (frozen:
 * a cached session shares them with every request it serves). Most requests never look at them.
 */
export function parsedOnDemand(data: string): () => ProviderTokens {
  let tokens: ProviderTokens | undefined;
  return () => (tokens ??= Object.freeze(JSON.parse(data) as ProviderTokens));
}
