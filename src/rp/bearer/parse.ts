/**
 * RFC 6750 and RFC 9449 on the wire: the `Authorization: Bearer` (or `DPoP`) header in, and refusals
 * out as a `WWW-Authenticate` challenge (RFC 6750 §3): no credentials → 401 `Bearer`; a malformed
 * header → 400 invalid_request; a bad, expired or unknown token → 401 invalid_token; missing scopes →
 * 403 insufficient_scope with `scope="…"`; a bad DPoP proof → 401 `DPoP error="invalid_dpop_proof"`
 * (RFC 9449 §7.1), whose challenge names the algorithms taken.
 */
import { OidcConnectError, type ErrorCode } from '../../errors.ts';

/** RFC 6750's errors, RFC 9470's insufficient_user_authentication (a token whose sign-in was not strong enough) and RFC 9449's invalid_dpop_proof. */
type OAuthError = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication' | 'invalid_dpop_proof';

const OAUTH_CODES: Record<OAuthError, ErrorCode> = {
  invalid_request: 'BAD_REQUEST',
  invalid_token: 'INVALID_TOKEN',
  insufficient_scope: 'INSUFFICIENT_SCOPE',
  insufficient_user_authentication: 'INSUFFICIENT_USER_AUTHENTICATION',
  invalid_dpop_proof: 'INVALID_DPOP_PROOF',
};

/** The DPoP proof algorithms our API takes (asymmetric only), named in DPoP challenges. */
export const DPOP_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'Ed25519', 'EdDSA']);

/** An authentication scheme a token may come with. */
export type TokenScheme = 'Bearer' | 'DPoP';

/** A refusal answered per RFC 6750 §3 (or RFC 9449 §7.1), with a WWW-Authenticate challenge. */
export class BearerError extends OidcConnectError {
  /** The RFC 6750 or RFC 9449 error code; undefined when the request carried no credentials. */
  readonly oauthError: OAuthError | undefined;
  /** For insufficient_scope: the scopes the route needs. */
  readonly requiredScopes: readonly string[];
  /** For insufficient_user_authentication: the `acr` values the route accepts (RFC 9470 §3). */
  readonly acrValues: readonly string[];
  /** The challenge's scheme: DPoP for refusals about DPoP (and where only DPoP will do). */
  readonly scheme: TokenScheme;

  constructor(oauthError: OAuthError | undefined, message: string, options: {
    requiredScopes?: readonly string[]; acrValues?: readonly string[]; cause?: unknown; scheme?: TokenScheme;
  } = {}) {
    super(oauthError ? OAUTH_CODES[oauthError] : 'LOGIN_REQUIRED', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BearerError';
    this.oauthError = oauthError;
    this.requiredScopes = options.requiredScopes ?? [];
    this.acrValues = options.acrValues ?? [];
    this.scheme = options.scheme ?? (oauthError === 'invalid_dpop_proof' ? 'DPoP' : 'Bearer');
  }

  /** The `WWW-Authenticate` value. Only our own constant texts and configured scope names reach it. */
  challenge(): string {
    const params = this.oauthError ? [`error="${this.oauthError}"`, `error_description="${quotable(this.message)}"`] : [];
    if (this.oauthError === 'insufficient_scope') params.push(`scope="${quotable(this.requiredScopes.join(' '))}"`);
    if (this.oauthError === 'insufficient_user_authentication') params.push(`acr_values="${quotable(this.acrValues.join(' '))}"`);
    if (this.scheme === 'DPoP') params.push(`algs="${DPOP_ALGORITHMS.join(' ')}"`);
    return params.length > 0 ? `${this.scheme} ${params.join(', ')}` : this.scheme;
  }
}

/** RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E inside error_description and scope. */
function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A scope name RFC 6749 §3.3 allows, and so one that may appear in a challenge. */
export function isScopeName(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}

/**
 * The bearer token of an Authorization header value. Returns null when there are no Bearer
 * credentials (no header, or another scheme such as Basic). Throws invalid_request when the
 * Bearer credentials are malformed (no token, several, or characters outside RFC 6750's b64token).
 */
export function parseAuthorization(header: string | undefined): string | null {
  const credentials = parseCredentials(header);
  return credentials?.scheme === 'Bearer' ? credentials.token : null;
}

/**
 * The access token of an Authorization header value and its scheme, `Bearer` (RFC 6750) or `DPoP`
 * (RFC 9449 §7.1, the same token syntax); null for no header or another scheme. Throws
 * invalid_request when the credentials are malformed.
 */
export function parseCredentials(header: string | undefined): { scheme: TokenScheme; token: string } | null {
  // Split by hand: a backtracking regex over the whole header cost ~15 ns per character.
  const value = header?.trim() ?? '';
  if (value === '') return null;
  const space = value.search(/[ \t]/);
  const named = (space === -1 ? value : value.slice(0, space)).toLowerCase();
  const scheme: TokenScheme | undefined = named === 'bearer' ? 'Bearer' : named === 'dpop' ? 'DPoP' : undefined;
  if (scheme === undefined) return null;
  const token = space === -1 ? '' : value.slice(space + 1).trimStart();
  if (token === '') throw new BearerError('invalid_request', `The Authorization header has no token after ${scheme}.`, { scheme });
  if (!B64TOKEN.test(token)) throw new BearerError('invalid_request', `The Authorization header is malformed: expected ${scheme} and a single token.`, { scheme });
  return { scheme, token };
}
