/**
 * Every failure that reaches a user or an operator carries a stable UPPER_SNAKE code. Each code has
 * one entry here: its HTTP status, the title of its error page and a one-line meaning; docs/errors.md
 * says what to do about each (src/errors.test.ts keeps the two in step). The codes are part of the
 * public API: log lines, error pages, JSON errors and the audit log use them, so they never change
 * meaning once released.
 */
export const ERROR_CODES = {
  // configuration and start-up
  CONFIG_INVALID: { status: 500, title: 'Configuration error', meaning: 'a setting is missing, wrong, or points at something unusable' },
  NODE_UNSUPPORTED: { status: 500, title: 'Node.js too old', meaning: 'the running Node.js is older than package.json "engines" asks for' },
  // local accounts
  INVALID_CREDENTIALS: { status: 401, title: 'Wrong username or password', meaning: 'wrong username or password' },
  TOO_MANY_ATTEMPTS: { status: 429, title: 'Too many attempts', meaning: 'locked out after repeated failures' },
  RATE_LIMITED: { status: 429, title: 'Too many requests', meaning: 'this address sent more sign-in or password-reset forms than their limit, or an email address was sent its hourly limit of mails' },
  SERVER_BUSY: { status: 503, title: 'Temporarily busy', meaning: 'every password-checking slot is taken (PASSWORD_HASH_CONCURRENCY) and its short queue is full' },
  PASSWORD_HASH_REFUSED: { status: 400, title: 'Password must be reset', meaning: 'an imported password hash asks for more work than any Django release used; it is never checked' },
  PASSWORD_HASH_TIMEOUT: { status: 503, title: 'Temporarily busy', meaning: 'checking an imported argon2 or bcrypt hash outlived its deadline; its worker thread was stopped' },
  PASSWORD_INVALID: { status: 400, title: 'Password not accepted', meaning: 'a new password is blank, typed differently twice, or refused by Django\'s password validators' },
  USERNAME_TAKEN: { status: 409, title: 'Username taken', meaning: 'another user already has this username' },
  USER_NOT_FOUND: { status: 404, title: 'No such user', meaning: 'no user has this id' },
  NAME_TAKEN: { status: 409, title: 'Name taken', meaning: 'another group already has this name' },
  RESET_LINK_INVALID: { status: 400, title: 'Link not valid', meaning: 'a password reset or email verification link is malformed, used, expired or not for this account' },
  // outgoing mail
  MAIL_NOT_CONFIGURED: { status: 503, title: 'Email is not set up', meaning: 'no EMAIL_URL is set, so no mail can be sent' },
  MAIL_UNDELIVERABLE: { status: 502, title: 'Mail not delivered', meaning: 'the SMTP server refused a mail, or stayed unreachable for a day' },
  // second factors
  MFA_CODE_INVALID: { status: 401, title: 'Incorrect code', meaning: 'a second factor\'s code (authenticator app or recovery code) is wrong, or was used already' },
  PASSKEY_INVALID: { status: 401, title: 'Passkey not accepted', meaning: 'a passkey\'s answer was refused: unknown passkey, bad signature, or an answer used already' },
  MFA_SIGN_IN_EXPIRED: { status: 400, title: 'Sign-in expired', meaning: 'the second step of a sign-in is missing, took longer than 5 minutes, or was started in another browser' },
  MFA_REQUIRED: { status: 403, title: 'Second factor required', meaning: 'the admin pages need a second factor (local accounts) or a multi-factor sign-in at the provider' },
  // sessions, requests
  CSRF_INVALID: { status: 403, title: 'Form expired', meaning: 'a form was sent without its valid anti-forgery token' },
  LOGIN_REQUIRED: { status: 401, title: 'Please log in', meaning: 'the page or API needs a signed-in user or a bearer token' },
  SESSION_RENEWAL_REQUIRED: { status: 401, title: 'Please log in again', meaning: 'the session must be confirmed with the provider before a write' },
  FORBIDDEN: { status: 403, title: 'Access denied', meaning: 'the signed-in user may not do this' },
  BAD_REQUEST: { status: 400, title: 'Request refused', meaning: 'the request could not be understood' },
  NOT_FOUND: { status: 404, title: 'Page not found', meaning: 'no page at this address' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Temporarily unavailable', meaning: 'the database did not answer' },
  INTERNAL: { status: 500, title: 'Something went wrong', meaning: 'a bug on our side; the log has the stack' },
  // OpenID Connect sign-in
  PROVIDER_NOT_CONFIGURED: { status: 404, title: 'Unknown sign-in provider', meaning: 'an unknown provider was asked for' },
  PROVIDER_ERROR: { status: 400, title: 'Sign-in not completed', meaning: 'the provider answered with an error' },
  CLIENT_AUTH_FAILED: { status: 502, title: 'Sign-in is misconfigured', meaning: 'the provider refused our client id or secret' },
  STATE_INVALID: { status: 400, title: 'Sign-in response refused', meaning: 'unknown, replayed or cross-browser sign-in response' },
  FLOW_EXPIRED: { status: 400, title: 'Sign-in expired', meaning: 'the sign-in took longer than 10 minutes' },
  NONCE_INVALID: { status: 400, title: 'Sign-in response refused', meaning: 'the ID token does not belong to this sign-in' },
  ID_TOKEN_INVALID: { status: 400, title: 'Sign-in response refused', meaning: 'the ID token failed its checks' },
  USERINFO_INVALID: { status: 502, title: 'The sign-in provider misbehaved', meaning: 'the userinfo response failed its checks' },
  PROVIDER_UNREACHABLE: { status: 502, title: 'The sign-in provider is unreachable', meaning: 'the provider could not be reached' },
  PROVIDER_TIMEOUT: { status: 504, title: 'The sign-in provider did not answer', meaning: 'the provider did not answer in time' },
  PROVIDER_BAD_RESPONSE: { status: 502, title: 'The sign-in provider misbehaved', meaning: 'the provider sent something invalid, or its discovery failed' },
  USER_INACTIVE: { status: 403, title: 'Account disabled', meaning: 'the account is deactivated' },
  USER_NOT_ALLOWED: { status: 403, title: 'Access denied', meaning: 'refused by the email-domain or group rules' },
  USER_CREATION_DISABLED: { status: 403, title: 'No account', meaning: 'no account, and OIDC_CREATE_USER is off' },
  IDENTITY_CONFLICT: { status: 409, title: 'Account already linked', meaning: 'the account with this verified email already has another identity at this provider' },
  // access tokens for downstream APIs (request.accessToken())
  NO_PROVIDER_TOKENS: { status: 401, title: 'Provider sign-in needed', meaning: 'the session holds no usable provider access token (a local sign-in, or an expired token and no refresh token)' },
  REFRESH_REFUSED: { status: 401, title: 'Please log in again', meaning: 'the provider refused to refresh the session\'s tokens, so the session ended' },
  TOKEN_EXCHANGE_UNSUPPORTED: { status: 501, title: 'Not supported by the provider', meaning: 'a token for another audience was asked for, and the provider does not offer token exchange (RFC 8693)' },
  TOKEN_EXCHANGE_REFUSED: { status: 403, title: 'Token exchange refused', meaning: 'the provider refused to exchange the session\'s access token for the audience or scope asked' },
  // bearer tokens
  INVALID_TOKEN: { status: 401, title: 'Invalid token', meaning: 'the bearer token is malformed, expired, revoked or not for this API' },
  INSUFFICIENT_SCOPE: { status: 403, title: 'Insufficient scope', meaning: 'the bearer token lacks a scope this API needs' },
  INSUFFICIENT_USER_AUTHENTICATION: { status: 401, title: 'Stronger sign-in needed', meaning: 'the bearer token\'s acr is not one this API requires (RFC 9470)' },
  // provisioning and Universal Logout
  SCIM_UNAUTHORIZED: { status: 401, title: 'SCIM token refused', meaning: 'a SCIM request without a bearer token from SCIM_TOKENS' },
  UNIVERSAL_LOGOUT_UNAUTHORIZED: { status: 401, title: 'Universal Logout refused', meaning: 'the Universal Logout request\'s signed JWT failed a check' },
  UNKNOWN_SUBJECT: { status: 404, title: 'Unknown user', meaning: 'a Universal Logout request named no user of this app' },
  METRICS_UNAUTHORIZED: { status: 401, title: 'Metrics token refused', meaning: 'a scrape of /metrics without the bearer token from METRICS_TOKEN' },
  INVALID_DPOP_PROOF: { status: 401, title: 'Invalid DPoP proof', meaning: 'the DPoP proof of a bound access token is missing, invalid, for another request or key, too old, or used before' },
} as const satisfies Record<string, { status: number; title: string; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OidcConnectError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** When trying again may work, in seconds; sent as Retry-After. */
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OidcConnectError';
    this.code = code;
    this.status = options?.status ?? ERROR_CODES[code].status;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** One configuration problem per entry, each naming the variable and how to fix it. */
export class ConfigError extends OidcConnectError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', problems.join('\n'), options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** An error and its causes, outermost first (bounded: cause chains can be cyclic). */
export function causeChain(error: unknown, limit = 6): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < limit; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * What each link of an error's cause chain says, outermost first and without repeats: its message,
 * the HTTP status and URL of a response it carries, and the attempts inside an AggregateError. Not
 * the bodies, headers or claims hanging off the errors: they don't belong in logs or on a terminal.
 */
export function causeMessages(error: unknown, limit = 6): string[] {
  const lines: string[] = [];
  const add = (line: string | undefined) => {
    if (line && !lines.includes(line)) lines.push(line);
  };
  for (const e of causeChain(error, limit)) {
    if (e instanceof Response) add(httpStatus(e));
    if (!(e instanceof Error)) continue;
    add(e.message || (e instanceof AggregateError ? e.errors.map((inner: Error) => inner?.message).join('; ') : ''));
    const response = (e as { response?: unknown }).response;
    if (response instanceof Response) add(httpStatus(response));
  }
  return lines;
}

const httpStatus = (response: Response): string => `HTTP ${response.status}${response.url ? ` from ${response.url}` : ''}`;

const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
};

/**
 * A failed connection in words, from the system error down the cause chain: "connection refused",
 * "DNS lookup of db.example failed (ENOTFOUND)"; undefined when the chain holds none.
 */
export function networkFailure(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const { code, hostname } = (e ?? {}) as { code?: unknown; hostname?: unknown };
    if (typeof code !== 'string') continue;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return `DNS lookup${typeof hostname === 'string' ? ` of ${hostname}` : ''} failed (${code})`;
    }
    if (NETWORK_FAILURES[code]) return NETWORK_FAILURES[code];
  }
  return undefined;
}

export function isOidcConnectError(error: unknown): error is OidcConnectError {
  return error instanceof OidcConnectError;
}
