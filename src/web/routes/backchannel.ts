import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isOidcConnectError, OidcConnectError } from '../../errors.ts';
import { consumeLogoutToken, logoutTokenIssuers, verifyLogoutToken } from '../../rp/logout-token.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { toOidcConnectError } from '../pages/error-pages.ts';

const FORM = 'application/x-www-form-urlencoded';

/**
 * The provider's server calls these, not a browser, so there is no CSRF token and no cookie; the
 * signed logout token is the only credential. Answers follow Back-Channel Logout 1.0, 2.8: 200
 * when the token is valid (whether or not a session matched), 400 with an OAuth error otherwise.
 * Our own trouble (database, provider keys unreachable) is a 5xx the provider may retry, but never 500.
 */
export function backchannelRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db, rp } = ctx;
  const issuers = logoutTokenIssuers(rp);

  const refuse = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
    const mapped: OidcConnectError = isOidcConnectError(error) ? error : toOidcConnectError(error);
    reply.header('cache-control', 'no-store');
    if (mapped.status < 500) {
      request.log.info({ code: mapped.code, reason: mapped.message }, 'back-channel logout refused');
      return reply.code(400).send({ error: 'invalid_request', error_description: mapped.message });
    }
    request.log.warn({ err: error, code: mapped.code }, 'back-channel logout failed');
    const status = mapped.status === 500 ? 503 : mapped.status;
    return reply.code(status).send({ error: 'temporarily_unavailable', error_description: mapped.message });
  };

  app.post('/oidc/backchannel-logout', {
    config: { json: true, renewal: false },
    // Body-parser failures (malformed, too large, another content type) answer in the OAuth shape too.
    errorHandler: (error, request, reply) => refuse(request, reply, error),
  }, async (request, reply) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== FORM) {
      return refuse(request, reply, new OidcConnectError('BAD_REQUEST', `The logout token must be sent as ${FORM}.`));
    }
    const body = (request.body ?? {}) as Record<string, unknown>;
    let sessionsEnded: number;
    let provider: string;
    try {
      const token = await verifyLogoutToken(body.logout_token, {
        issuers,
        clockToleranceSeconds: config.clockToleranceSeconds,
      });
      provider = token.provider;
      sessionsEnded = await consumeLogoutToken(db, token);
    } catch (error) {
      // Anyone can POST here: refusals are counted per address and minute, not written one by one.
      await auditAnonymous(ctx, request, { type: 'backchannel_logout', errorCode: toOidcConnectError(error).code });
      return refuse(request, reply, error);
    }
    request.log.info({ provider, sessionsEnded }, 'back-channel logout');
    await audit(ctx, request, { type: 'backchannel_logout', method: provider, detail: `${sessionsEnded} session(s) ended` });
    return reply.code(200).header('cache-control', 'no-store').send();
  });
}
