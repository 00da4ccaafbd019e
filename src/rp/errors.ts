import * as client from 'openid-client';
import { OidcConnectError, causeChain, isOidcConnectError } from '../errors.ts';

export type Stage = 'discovery' | 'authorization' | 'token' | 'userinfo' | 'jwks';

const BAD_BODY = new Set(['OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_PARSE_ERROR', 'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_INVALID_SERVER_METADATA', 'OAUTH_MISSING_SERVER_METADATA']);
const TOKEN_CHECKS = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED', 'OAUTH_UNSUPPORTED_OPERATION', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JOSE_ALG_NOT_ALLOWED']);

/**
 * The one place that maps openid-client, oauth4webapi, jose and fetch failures to our codes. A
 * provider that misbehaves gives a 4xx/502/504 page, never a 500.
 */
export function toSignInError(error: unknown, stage: Stage, provider: string): OidcConnectError {
  if (isOidcConnectError(error)) return error;
  const chain = causeChain(error);
  const names = chain.map((e) => (e as Error)?.name);
  const codes = chain.map((e) => (e as { code?: string })?.code);
  const options = { cause: error };

  if (names.includes('TimeoutError') || names.includes('AbortError')) {
    return new OidcConnectError('PROVIDER_TIMEOUT', `${provider} did not answer in time. Please try again in a moment.`, options);
  }
  if (error instanceof client.AuthorizationResponseError) {
    const detail = error.error_description ? `: ${error.error_description}` : '';
    return new OidcConnectError('PROVIDER_ERROR', `${provider} did not complete the sign-in (${error.error}${detail}).`, options);
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
    return new OidcConnectError('PROVIDER_UNREACHABLE', `${provider} could not be reached. Please try again in a moment.`, options);
  }
  return new OidcConnectError('PROVIDER_BAD_RESPONSE', `${provider} sent a response we could not use during ${stage} (${code || message}).`, options);
}
