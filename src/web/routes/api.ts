import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { SignedInUser } from '../../accounts/roles.ts';
import { ConfigError, OidcConnectError } from '../../errors.ts';
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

/**
 * The plugin's two routes outside its own prefixes, which a host may already have: each is moved to
 * another path, or left out with false.
 *
 * @example
 *   await app.register(oidcConnect, { routes: { health: '/auth/healthz', me: false } });
 */
export interface RootRoutes {
  /** The health check (200 `{"status":"ok"}` when the database answers, else 503); default `/healthz`. */
  health?: string | false;
  /** The signed-in user as JSON, by session cookie or bearer token; default `/api/me`. */
  me?: string | false;
}

/** The paths of the root routes, null for one left out; a value that is neither a path nor false is refused in one line. */
export function rootRoutePaths(routes: RootRoutes = {}): { health: string | null; me: string | null } {
  const problems: string[] = [];
  const path = (name: keyof RootRoutes, fallback: string): string | null => {
    const value: unknown = routes[name];
    if (value === undefined) return fallback;
    if (value === false) return null;
    if (typeof value === 'string' && /^\/[^\s?#]*$/.test(value)) return value;
    problems.push(`routes.${name}: ${JSON.stringify(value)} is not a path such as ${fallback}; give one starting with /, or false to leave the route out`);
    return null;
  };
  const paths = { health: path('health', '/healthz'), me: path('me', '/api/me') };
  if (problems.length > 0) throw new ConfigError(problems);
  return paths;
}

export function apiRoutes(app: FastifyInstance, ctx: AppContext, paths: ReturnType<typeof rootRoutePaths>): void {
  /**
   * The session user, or the user of an `Authorization: Bearer` access token (a Bearer header,
   * when present, is checked and wins over the session cookie). No particular scope is required:
   * any valid access token for OIDC_API_AUDIENCE whose subject has an active account here.
   */
  if (paths.me !== null) app.get(paths.me, { config: { json: true }, preHandler: app.requireBearer({ allowSession: true }) }, async (request) => {
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

  if (paths.health !== null) app.get(paths.health, { config: { session: false } }, async (_request, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok' };
    } catch (error) {
      reply.log.warn({ err: error }, 'health check: database unavailable');
      return reply.code(503).send({ status: 'unavailable', error: 'DATABASE_UNAVAILABLE' });
    }
  });
}
