/**
 * The Fastify face of bearer tokens (`app.requireBearer`): runs src/rp/bearer/ on the request's
 * Authorization header and client IP (request.ip, which honours TRUST_PROXY), and answers refusals
 * per RFC 6750 §3 with their `WWW-Authenticate` challenge, or 429 with Retry-After when the IP sent
 * too many unknown opaque tokens. A provider that is down is left to the app's error handler (502/504).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  BearerError, isScopeName, TooManyTokenChecks, type BearerAuthentication, type BearerAuthenticator, type BearerRequirements,
} from '../rp/bearer/index.ts';

export interface BearerGuardOptions extends BearerRequirements {
  /**
   * When the request carries no Bearer credentials at all (no Authorization header, or another
   * scheme), go on to the route instead of answering 401: request.user stays the session user, if
   * any. A Bearer header, when present, is always checked and wins over the session.
   */
  allowSession?: boolean;
}

/**
 * A preHandler hook that protects a route. On success it sets `request.bearer` and `request.user`;
 * on a refusal it answers per RFC 6750 and the route never runs.
 */
export function bearerGuard(
  authenticator: BearerAuthenticator,
  options: BearerGuardOptions = {},
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  for (const scope of options.scopes ?? []) {
    if (!isScopeName(scope)) throw new TypeError(`requireBearer: ${JSON.stringify(scope)} is not a valid scope name`);
  }
  const settings: BearerGuardOptions = { ...options, scopes: Object.freeze([...(options.scopes ?? [])]) };
  return async (request, reply) => {
    let result: BearerAuthentication | null;
    try {
      result = await authenticator.authenticate(request.headers.authorization, settings, { ip: request.ip });
      if (result === null && !settings.allowSession) {
        throw new BearerError(undefined, 'Send an Authorization: Bearer access token.');
      }
    } catch (error) {
      if (error instanceof BearerError) return sendBearerError(request, reply, error);
      if (error instanceof TooManyTokenChecks) return sendTooMany(request, reply, error);
      throw error; // provider or database failures: the app's error handler answers 502/503/504
    }
    if (result !== null) {
      request.bearer = result.token;
      request.user = result.user;
    }
    return undefined;
  };
}

/** Answers a BearerError as JSON `{ error, message }` with its RFC 6750 challenge. */
function sendBearerError(request: FastifyRequest, reply: FastifyReply, error: BearerError): FastifyReply {
  request.log.info({ code: error.code, reason: error.message }, 'bearer token refused');
  return reply
    .code(error.status)
    .header('www-authenticate', error.challenge())
    .header('cache-control', 'no-store')
    .send({ error: error.code, message: error.message });
}

function sendTooMany(request: FastifyRequest, reply: FastifyReply, error: TooManyTokenChecks): FastifyReply {
  request.log.info({ code: error.code, ip: request.ip }, 'too many unknown bearer tokens from one address');
  return reply
    .code(error.status)
    .header('retry-after', String(error.retryAfterSeconds))
    .header('cache-control', 'no-store')
    .send({ error: error.code, message: error.message });
}
