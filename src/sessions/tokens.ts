/**
 * A session's provider tokens as its row keeps them (sessions.data, JSON, on the server only, never
 * in the cookie). What every request may look at is in the clear: when the access token expires,
 * when a provider without refresh tokens is asked again, whether there is a refresh token. The
 * tokens themselves (ID, access and refresh tokens, a DPoP key) are one sealed value, made and opened
 * by rp/session-tokens.ts: this module never sees them, and needs no key.
 */
export interface StoredTokens {
  /** Epoch ms when the access token expires. */
  readonly expiresAt?: number;
  /** Epoch ms after which a provider without refresh tokens is asked again silently (prompt=none). */
  readonly renewAt?: number;
  readonly scope?: string;
  /** A refresh token is kept (in `sealed`). */
  readonly refreshable?: boolean;
  /** The tokens, sealed (src/sealed.ts). */
  readonly sealed?: string;
  /** A row written before tokens were sealed: its tokens as it kept them, until its next write seals them. */
  readonly legacy?: Readonly<{ idToken?: string; accessToken?: string; refreshToken?: string }>;
}

/** The JSON a row keeps; a legacy row's tokens are never written back in the clear. */
export function serializeTokens(tokens: StoredTokens): string {
  const { legacy: _legacy, ...kept } = tokens;
  return JSON.stringify(kept);
}

/**
 * A session's stored tokens, parsed from its row's JSON at the first call and then kept (frozen: a
 * cached session shares them with every request it serves). Most requests never look at them.
 * Rows from before sealing held the tokens themselves: they are read as `legacy`.
 */
export function parsedOnDemand(data: string): () => StoredTokens {
  let tokens: StoredTokens | undefined;
  return () => (tokens ??= parseTokens(data));
}

export function parseTokens(data: string): StoredTokens {
  const parsed = JSON.parse(data) as StoredTokens & { idToken?: string; accessToken?: string; refreshToken?: string };
  if (parsed.idToken === undefined && parsed.accessToken === undefined && parsed.refreshToken === undefined) return Object.freeze(parsed);
  const { idToken, accessToken, refreshToken, ...rest } = parsed;
  return Object.freeze({
    ...rest,
    refreshable: refreshToken !== undefined,
    legacy: Object.freeze({
      ...(idToken !== undefined ? { idToken } : {}),
      ...(accessToken !== undefined ? { accessToken } : {}),
      ...(refreshToken !== undefined ? { refreshToken } : {}),
    }),
  });
}
