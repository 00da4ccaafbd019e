import type { FastifyInstance } from 'fastify';
import { OidcConnectError } from '../../errors.ts';
import type { AppContext } from '../context.ts';

/**
 * GET /metrics on the app's port: METRICS=on without METRICS_PORT (with it, they are served there
 * alone, src/web/metrics.ts). With METRICS_TOKEN a scrape must send it as a bearer token, else
 * METRICS_UNAUTHORIZED (401, JSON, with a Bearer challenge).
 */
export function metricsRoute(app: FastifyInstance, ctx: AppContext): void {
  const metrics = ctx.metrics;
  if (metrics === null || ctx.config.metrics?.port !== null) return;
  app.get('/metrics', { config: { session: false, renewal: false, json: true } }, async (request, reply) => {
    if (!metrics.authorized(request.headers.authorization)) {
      // Answered here, as the error handler would, but with the realm in the challenge.
      const refused = new OidcConnectError('METRICS_UNAUTHORIZED', 'Send the bearer token from METRICS_TOKEN.');
      return reply.code(refused.status).header('www-authenticate', 'Bearer realm="metrics"').send({ error: refused.code, message: refused.message });
    }
    return reply.type(metrics.registry.contentType).header('cache-control', 'no-store').send(await metrics.registry.metrics());
  });
}
