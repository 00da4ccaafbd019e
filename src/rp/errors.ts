import { errors as joseErrors } from 'jose';
import * as client from 'openid-client';
import type { ProviderConfig } from '../config/index.ts';
import { OidcConnectError, causeChain, isOidcConnectError, networkFailure } from '../errors.ts';

/** Where a provider request failed; `par` is the pushed authorization request (RFC 9126). */
export type Stage = 'discovery' | 'authorization' | 'par' | 'token' | 'userinfo' | 'jwks';

const BAD_BODY = new Set(['OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_PARSE_ERROR', 'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_INVALID_SERVER_METADATA', 'OAUTH_MISSING_SERVER_METADATA']);
const TOKEN_CHECKS = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED', 'OAUTH_UNSUPPORTED_OPERATION', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JOSE_ALG_NOT_ALLOWED']);

/** Who failed: the provider's name, or its configuration, so that messages name the settings to fix. */
export type ProviderLabel = string | Pick<ProviderConfig, 'name' | 'settings'>;

const OKTA_HINT = 'Okta issuers look like https://{domain}/oauth2/default or https://{domain}.';

/**
 * The one place that maps openid-client, oauth4webapi, jose and fetch failures to our codes. A
 * provider that misbehaves gives a 4xx/502/504 page, never a 500. Mistakes in our own settings
 * (client credentials, issuer) say which setting to fix.
 */
export function toSignInError(error: unknown, stage: Stage, label: ProviderLabel): OidcConnectError {
  if (isOidcConnectError(error)) return error;
  const provider = typeof label === 'string' ? label : label.name;
  const settings = (typeof label === 'string' ? undefined : label.settings)
    ?? { issuer: 'OIDC_ISSUER', credentials: 'OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET' };
  const chain = causeChain(error);
  const names = chain.map((e) => (e as Error)?.name);
  const codes = chain.map((e) => (e as { code?: string })?.code);
  const options = { cause: withoutWrapper(error) };

  if (names.includes('TimeoutError') || names.includes('AbortError')) {
    return new OidcConnectError('PROVIDER_TIMEOUT', `${provider} did not answer in time. Please try again in a moment.`, options);
  }
  if (error instanceof client.AuthorizationResponseError) {
    const detail = error.error_description ? `: ${error.error_description}` : '';
    return new OidcConnectError('PROVIDER_ERROR', `${provider} did not complete the sign-in (${error.error}${detail}).`, options);
  }
  if (refusesClient(error, stage)) {
    return new OidcConnectError('CLIENT_AUTH_FAILED', `${provider} refused our client credentials: check ${settings.credentials}.`, options);
  }
  const response = responseOf(error);
  if (stage === 'discovery' && response && response.status >= 400 && response.status < 500) {
    return new OidcConnectError('PROVIDER_BAD_RESPONSE', `No discovery document at ${response.url} (HTTP ${response.status}): check ${settings.issuer}. ${OKTA_HINT}`, options);
  }
  const mismatch = chain.find((e): e is { expected: string; body: Record<string, unknown>; attribute: string } => (e as { attribute?: unknown })?.attribute === 'issuer');
  if (stage === 'discovery' && mismatch) {
    return new OidcConnectError('PROVIDER_BAD_RESPONSE', `The issuer does not match: ${settings.issuer} gives ${mismatch.expected}, but ${provider} says its issuer is ${String(mismatch.body?.issuer)}. Use the issuer exactly as the provider names it.`, options);
  }
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500) {
      return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider} answered with an error (HTTP ${error.status}). Please try again later.`, options);
    }
    return new OidcConnectError('PROVIDER_ERROR', `${provider} refused the sign-in (${error.error}). Please start again.`, options);
  }
  const code = codes.find((c) => typeof c === 'string' && (c.startsWith('OAUTH_') || c.startsWith('ERR_JW'))) ?? '';
  // openid-client wraps oauth4webapi's errors in a ClientError with a generic message ("invalid
  // response encountered"); the specific one (JWT "sub" claim missing, signature verification failed,
  // nonce…) is on the cause. Match and show the deepest message, not only the outer one.
  const messages = chain.map((e) => (e as Error)?.message).filter((m): m is string => typeof m === 'string' && m !== '');
  const message = messages.at(-1) ?? '';
  const text = messages.join(' | ');
  if ((code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || code === 'OAUTH_INVALID_RESPONSE') && /"nonce"/.test(text)) {
    return new OidcConnectError('NONCE_INVALID', 'The sign-in response did not match this browser’s request (nonce). Please start again.', options);
  }
  // openid-client checks the callback's own query (what the browser brought back) before any token
  // request: a repeated parameter, or a state/iss that does not match. That is a bad request (400),
  // not a provider failure (502).
  if (code === 'OAUTH_INVALID_RESPONSE' && /parameter must be provided only once|response parameter/.test(text)) {
    return new OidcConnectError('STATE_INVALID', 'The sign-in response was malformed or did not match this browser’s request. Please start again.', options);
  }
  if (stage === 'userinfo' && code !== '' && !BAD_BODY.has(code)) {
    return new OidcConnectError('USERINFO_INVALID', `${provider} returned user information that does not match the signed-in user.`, options);
  }
  if (stage === 'token' && (TOKEN_CHECKS.has(code) || /JWT|ID Token|id_token|"alg"|signature/i.test(text))) {
    return new OidcConnectError('ID_TOKEN_INVALID', `${provider} sent an ID token that failed validation (${message}).`, options);
  }
  if (codes.some((c) => typeof c === 'string' && /^(ECONNREFUSED|ENOTFOUND|ECONNRESET|EHOSTUNREACH|EAI_AGAIN|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT)$/.test(c))
    || (error instanceof TypeError && error.message === 'fetch failed')) {
    return new OidcConnectError('PROVIDER_UNREACHABLE', `${provider} could not be reached: ${networkFailure(error) ?? message}. Please try again in a moment.`, options);
  }
  return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider} sent a response we could not use during ${stage} (${code || message}).`, options);
}

/**
 * openid-client wraps a failure it has no word for (fetch's "fetch failed" with its network error) in a
 * ClientError saying only "something went wrong": the cause chain, which `check` prints a line each,
 * starts from what it wraps instead.
 */
function withoutWrapper(error: unknown): unknown {
  const generic = error instanceof client.ClientError && error.message === 'something went wrong' && error.cause !== undefined;
  return generic ? error.cause : error;
}

// --- Tokens we verify ourselves: bearer access tokens (rp/bearer/) and logout tokens ---

/** Why jose refused a JWT: the token's fault. Callers word it for their kind of token. */
export type JwtRefusal =
  | { readonly reason: 'expired' | 'signature' | 'unknown-key' | 'ambiguous-key' | 'algorithm' | 'malformed' }
  | { readonly reason: 'claim'; readonly claim: string; readonly detail: string };

/** jose's codes for a JWT at fault; any other failure while verifying is the provider's. */
const JWT_REFUSALS: Readonly<Record<string, Exclude<JwtRefusal['reason'], 'claim'>>> = {
  ERR_JWT_EXPIRED: 'expired',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown-key',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'ambiguous-key',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm',
  ERR_JWS_INVALID: 'malformed',
  ERR_JWT_INVALID: 'malformed',
  ERR_JOSE_NOT_SUPPORTED: 'malformed',
};

/**
 * A failure of jose's `jwtVerify` with a provider's keys: the token's fault as a JwtRefusal, or the
 * provider's (its keys could not be had) as PROVIDER_*, which is never the client's 400/401.
 */
export function toJwtFailure(error: unknown, provider: string): JwtRefusal | OidcConnectError {
  if (error instanceof joseErrors.JWTClaimValidationFailed) return { reason: 'claim', claim: error.claim, detail: error.reason };
  const reason = error instanceof joseErrors.JOSEError ? JWT_REFUSALS[error.code] : undefined;
  return reason ? { reason } : toSigningKeysError(error, provider);
}

/** The provider's signing keys (discovery, then its JWKS) could not be had. */
export function toSigningKeysError(error: unknown, provider: string): OidcConnectError {
  if (error instanceof joseErrors.JWKSTimeout) {
    return new OidcConnectError('PROVIDER_TIMEOUT', `${provider} did not send its signing keys in time.`, { cause: error });
  }
  return providerFault(error, 'jwks', provider, 'sent no usable signing keys (JWKS)');
}

/**
 * Asking the provider about an opaque access token failed. A 4xx from userinfo is the provider
 * refusing the token: 'refused'. Anything else is the provider's fault (502/504, not the caller's
 * 401), introspection refusing our own client credentials included: that is a configuration problem.
 */
export function toTokenQueryError(error: unknown, endpoint: 'introspection' | 'userinfo', provider: string): OidcConnectError | 'refused' {
  const status = httpStatusOf(error);
  if (endpoint === 'userinfo' && status !== undefined && status >= 400 && status < 500) return 'refused';
  return providerFault(error, 'userinfo', provider, `could not answer at ${endpoint} to check the access token`);
}

/**
 * Fetching the provider's RFC 8414 metadata (to find its introspection endpoint) failed. A provider
 * that could not answer (down, too slow, HTTP 5xx) gives PROVIDER_*, so that it is asked again later;
 * any other failure (no such document, not JSON, another issuer) means the provider offers none: 'absent'.
 */
export function toMetadataLookupError(error: unknown, label: ProviderLabel): OidcConnectError | 'absent' {
  const status = httpStatusOf(error);
  const mapped = toSignInError(error, 'discovery', label);
  if (mapped.code === 'PROVIDER_TIMEOUT' || mapped.code === 'PROVIDER_UNREACHABLE') return mapped;
  if (status !== undefined && status >= 500) return mapped;
  return 'absent';
}

/** Provider failures whose sign-in message fits any request: what to wait for, or which setting to fix. */
const GENERAL_FAILURES = new Set<string>(['PROVIDER_TIMEOUT', 'PROVIDER_UNREACHABLE', 'CLIENT_AUTH_FAILED']);

/** Those and errors we already mapped keep their code and message; the rest say what failed. */
function providerFault(error: unknown, stage: Stage, provider: string, what: string): OidcConnectError {
  const mapped = toSignInError(error, stage, provider);
  if (mapped === error || GENERAL_FAILURES.has(mapped.code)) return mapped;
  return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider} ${what}.`, { cause: error });
}

/** The HTTP status of a provider's error answer, as openid-client reports it. */
function httpStatusOf(error: unknown): number | undefined {
  return responseOf(error)?.status;
}

/** The provider's error answer, as openid-client reports it: on the error, or as its cause. */
function responseOf(error: unknown): Response | undefined {
  if (error instanceof client.WWWAuthenticateChallengeError || error instanceof client.ResponseBodyError) return error.response;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof Response ? cause : undefined;
}

/**
 * Our client id or secret is wrong: `invalid_client`, or a 401 challenge at the token endpoint
 * (Okta and django-oauth-toolkit answer with WWW-Authenticate rather than an error body).
 */
function refusesClient(error: unknown, stage: Stage): boolean {
  if (error instanceof client.ResponseBodyError) return error.error === 'invalid_client';
  if (!(error instanceof client.WWWAuthenticateChallengeError)) return false;
  return ((stage === 'token' || stage === 'par') && error.status === 401)
    || error.cause.some((challenge) => challenge.scheme === 'basic' || challenge.parameters.error === 'invalid_client');
}
