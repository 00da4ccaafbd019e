import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { OidcConnectError } from '../../errors.ts';
import type { SignedInUser } from '../../accounts/roles.ts';
import type { AppContext } from '../context.ts';

function profile(user: SignedInUser) {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    is_staff: user.is_staff === 1,
    is_superuser: user.is_superuser === 1,
    roles: user.roles,
  };
}

export function apiRoutes(app: FastifyInstance, ctx: AppContext): void {
  /**
   * The session user, or the user of an `Authorization: Bearer` access token (a Bearer header,
   * when present, is checked and wins over the session cookie). No particular scope is required:
   * any valid access token for OIDC_API_AUDIENCE whose subject has an active account here.
   */
  app.get('/api/me', { config: { json: true }, preHandler: app.requireBearer({ allowSession: true }) }, async (request) => {
    const user = request.user;
    if (!user) throw new OidcConnectError('LOGIN_REQUIRED', 'Log in, or send an Authorization: Bearer token.');
    const bearer = request.bearer;
    if (bearer) {
      return {
        ...profile(user),
        auth: 'bearer',
        provider: bearer.provider,
        scopes: bearer.scopes,
        client_id: bearer.clientId ?? null,
        token_expires_at: bearer.expiresAt === undefined ? null : new Date(bearer.expiresAt).toISOString(),
      };
    }
    return {
      ...profile(user),
      auth: 'session',
      provider: request.session?.row.provider ?? null,
    };
  });

  app.get('/healthz', { config: { session: false } }, async (_request, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok' };
    } catch (error) {
      reply.log.warn({ err: error }, 'health check: database unavailable');
      return reply.code(503).send({ status: 'unavailable', error: 'DATABASE_UNAVAILABLE' });
    }
  });
}
