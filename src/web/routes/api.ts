import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { OidcConnectError } from '../../errors.ts';
import type { AppContext } from '../context.ts';

export function apiRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/api/me', async (request) => {
    const user = request.user;
    if (!user) throw new OidcConnectError('LOGIN_REQUIRED', 'Log in, or send an Authorization: Bearer token.');
    return {
      id: user.id,
      username: user.username,
      email: user.email,
      first_name: user.first_name,
      last_name: user.last_name,
      is_staff: user.is_staff === 1,
      is_superuser: user.is_superuser === 1,
      auth: 'session',
      provider: request.session?.row.provider ?? null,
    };
  });

  app.get('/healthz', async (_request, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok' };
    } catch (error) {
      reply.log.warn({ err: error }, 'health check: database unavailable');
      return reply.code(503).send({ status: 'unavailable', error: 'DATABASE_UNAVAILABLE' });
    }
  });
}
