import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { databaseUnavailable } from '../../db/errors.ts';
import type { User } from '../../db/schema.ts';
import { ERROR_CODES, isOidcConnectError, OidcConnectError, type ErrorCode } from '../../errors.ts';
import { errorReason } from '../logging.ts';
import { formExpired } from '../protection/csrf.ts';
import { userView, type ViewRenderer } from './views.ts';

/** Sign-in failures offer "Try again" from the login page. */
const RETRY_FROM_LOGIN = new Set<ErrorCode>([
  'TOO_MANY_ATTEMPTS', 'RATE_LIMITED', 'SERVER_BUSY', 'PROVIDER_ERROR', 'STATE_INVALID', 'FLOW_EXPIRED', 'NONCE_INVALID', 'ID_TOKEN_INVALID',
  'USERINFO_INVALID', 'PROVIDER_UNREACHABLE', 'PROVIDER_TIMEOUT', 'PROVIDER_BAD_RESPONSE', 'USER_INACTIVE',
  'USER_NOT_ALLOWED', 'USER_CREATION_DISABLED', 'PROVIDER_NOT_CONFIGURED', 'CLIENT_AUTH_FAILED',
]);

/**
 * Fastify's own errors (CSRF, malformed requests) and database outages to our stable codes; the
 * provider side is mapped in rp/errors.ts before an error gets here.
 */
export function toOidcConnectError(error: unknown): OidcConnectError {
  if (isOidcConnectError(error)) return error;
  const e = error as FastifyError;
  if (e?.code === 'FST_CSRF_INVALID_TOKEN' || e?.code === 'FST_CSRF_MISSING_SECRET') {
    return formExpired();
  }
  const unavailable = databaseUnavailable(error);
  if (unavailable) return unavailable;
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new OidcConnectError('BAD_REQUEST', 'The request could not be understood.', { status: e.statusCode, cause: error });
  }
  return new OidcConnectError('INTERNAL', 'Something went wrong on our side. Please try again.', { cause: error });
}

export function wantsJson(request: FastifyRequest): boolean {
  if (request.routeOptions.config.json === true) return true;
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: OidcConnectError, views: ViewRenderer, json = wantsJson(request)): FastifyReply {
  reply.code(error.status);
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  if (error.status === 401 && json) reply.header('www-authenticate', 'Bearer');
  if (json) return reply.send({ error: error.code, message: error.message });
  const retry = RETRY_FROM_LOGIN.has(error.code)
    ? '/accounts/login/'
    : error.code === 'CSRF_INVALID' ? request.url : null;
  return reply.type('text/html; charset=utf-8').send(errorPageHtml(views, request.user, error, retry));
}

/** The error page, for our routes and for a refusal on the host's (src/web/session/guards.ts). */
export function errorPageHtml(views: ViewRenderer, user: User | null, error: OidcConnectError, retry: string | null = null): string {
  return views.render('error', {
    user: userView(user),
    title: ERROR_CODES[error.code].title,
    message: error.message,
    code: error.code,
    status: error.status,
    retry,
  });
}

/** The error handler of our routes (the plugin's scope), and of the standalone app's. */
export function errorHandler(views: ViewRenderer): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (error, request, reply) => {
    const mapped = toOidcConnectError(error);
    // Only our own bugs get a stack; provider failures get their reasons, not their payloads.
    if (mapped.code === 'INTERNAL') request.log.error({ err: error, code: mapped.code }, 'request failed');
    else if (mapped.status >= 500) request.log.warn({ code: mapped.code, reason: errorReason(error) }, 'request failed');
    else request.log.info({ code: mapped.code, reason: errorReason(error) }, 'request refused');
    return sendError(request, reply, mapped, views);
  };
}

/**
 * The 404 answer. A 404 has no route to carry the json flag, so a scope of API paths sets its own
 * handler with `json: true` (the standalone app's /api/, in web/app.ts).
 */
export function notFoundHandler(views: ViewRenderer, options: { json?: boolean } = {}): (request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (request, reply) => sendError(request, reply, new OidcConnectError('NOT_FOUND', 'There is nothing at this address.'),
    views, options.json ?? wantsJson(request));
}
