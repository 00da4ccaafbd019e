/**
 * Every failure that reaches a user or an operator carries a stable UPPER_SNAKE code and an HTTP
 * status. The codes are part of the public API: log lines, error pages, JSON errors and the audit log
 * use them, so they never change meaning once released.
 */
export const ERROR_CODES = {
  // configuration and start-up
  CONFIG_INVALID: 500,
  // local accounts
  INVALID_CREDENTIALS: 401,
  TOO_MANY_ATTEMPTS: 429,
  PASSWORD_INVALID: 400,
  USERNAME_TAKEN: 409,
  USER_NOT_FOUND: 404,
  // sessions, requests
  CSRF_INVALID: 403,
  LOGIN_REQUIRED: 401,
  SESSION_RENEWAL_REQUIRED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  DATABASE_UNAVAILABLE: 503,
  INTERNAL: 500,
  // OpenID Connect sign-in
  PROVIDER_NOT_CONFIGURED: 404,
  PROVIDER_ERROR: 400,
  STATE_INVALID: 400,
  FLOW_EXPIRED: 400,
  NONCE_INVALID: 400,
  ID_TOKEN_INVALID: 400,
  USERINFO_INVALID: 502,
  PROVIDER_UNREACHABLE: 502,
  PROVIDER_TIMEOUT: 504,
  PROVIDER_BAD_RESPONSE: 502,
  USER_INACTIVE: 403,
  USER_NOT_ALLOWED: 403,
  USER_CREATION_DISABLED: 403,
  // bearer tokens
  INVALID_TOKEN: 401,
  INSUFFICIENT_SCOPE: 403,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OidcConnectError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OidcConnectError';
    this.code = code;
    this.status = options?.status ?? ERROR_CODES[code];
  }
}

/** One configuration problem per entry, each naming the variable and how to fix it. */
export class ConfigError extends OidcConnectError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', problems.join('\n'));
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

export function isOidcConnectError(error: unknown): error is OidcConnectError {
  return error instanceof OidcConnectError;
}
