import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isOidcConnectError, OidcConnectError } from '../../errors.ts';
import {
  authenticateRevocation, readSubject, revocationIssuer, revokeUsers, subjectUsers, UNIVERSAL_LOGOUT_PATH,
} from '../../rp/universal-logout.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { toOidcConnectError } from '../pages/error-pages.ts';
import { perAddress } from '../protection/rate-limits.ts';

/** Requests per client address and minute: a provider logs people out one request each. */
const PER_MINUTE = 120;
const MAX_BODY_BYTES = 16 * 1024;

/**
 * POST /oauth/global-token-revocation, Okta's Universal Logout (src/rp/universal-logout.ts): 204
 * when the user's sessions ended, 400 for a malformed body, 401 when the signed JWT fails a check,
 * 404 for an unknown subject, 429 past the rate limit. Registered when there is an issuer to trust
 * (UNIVERSAL_LOGOUT_ISSUER, by default the provider's).
 */
export function universalLogoutRoutes(app: FastifyInstance, ctx: AppContext): void {
  const issuer = ctx.config.universalLogoutIssuer;
  if (issuer === null) return;
  const check = {
    issuer: revocationIssuer(ctx.rp, issuer, ctx.config.httpTimeoutMs),
    audience: `${ctx.config.appUrl}${UNIVERSAL_LOGOUT_PATH}`,
    clockToleranceSeconds: ctx.config.clockToleranceSeconds,
  };

  const refuse = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
    const mapped: OidcConnectError = isOidcConnectError(error) ? error : toOidcConnectError(error);
    const status = mapped.status === 500 ? 503 : mapped.status;
    request.log[status >= 500 ? 'warn' : 'info']({ code: mapped.code, reason: mapped.message }, 'Universal Logout refused');
    reply.code(status).header('cache-control', 'no-store');
    if (status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
    if (mapped.retryAfterSeconds !== undefined) reply.header('retry-after', String(mapped.retryAfterSeconds));
    const oauthError = status === 400 ? 'invalid_request' : status === 401 ? 'invalid_token' : status === 404 ? 'unknown_subject' : status === 429 ? 'rate_limited' : 'temporarily_unavailable';
    return reply.send({ error: oauthError, error_description: mapped.message });
  };

  app.post(UNIVERSAL_LOGOUT_PATH, {
    bodyLimit: MAX_BODY_BYTES,
    config: { json: true, session: false, renewal: false, rateLimit: perAddress(PER_MINUTE) },
    errorHandler: (error, request, reply) => refuse(request, reply, error),
  }, async (request, reply) => {
    let users: number[];
    try {
      await authenticateRevocation(ctx.db, request.headers.authorization, check);
      users = await subjectUsers(ctx.db, ctx.rp, readSubject(request.body));
    } catch (error) {
      await auditAnonymous(ctx, request, { type: 'universal_logout', errorCode: toOidcConnectError(error).code });
      return refuse(request, reply, error);
    }
    if (users.length === 0) {
      await auditAnonymous(ctx, request, { type: 'universal_logout', errorCode: 'UNKNOWN_SUBJECT' });
      return refuse(request, reply, new OidcConnectError('UNKNOWN_SUBJECT', 'Universal Logout: no user of this app matches the subject.'));
    }
    const ended = await revokeUsers(ctx.db, users);
    for (const userId of users) await audit(ctx, request, { type: 'universal_logout', userId, detail: `${ended} session(s) ended` });
    return reply.code(204).header('cache-control', 'no-store').send();
  });
}
