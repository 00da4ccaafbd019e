import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { provisionUser, type ProviderClaims } from '../../provisioning/index.ts';
import type { AppContext } from '../context.ts';
import { safeNext } from '../redirects.ts';
import { startSession } from '../session-cookie.ts';

type Query = Record<string, string | string[] | undefined>;

/**
 * Binds logins in flight to this browser. One cookie serves every tab: each flow row stores its
 * hash, so several tabs can log in at once while a callback replayed in another browser fails.
 */
const FLOW_COOKIE = 'oc_flow';

export function oidcRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db, rp } = ctx;

  app.get('/authorization-code/authenticate/', async (request, reply) => {
    const query = request.query as Query;
    const next = safeNext(query.next, config.appUrl);
    const provider = typeof query.provider === 'string' ? query.provider : undefined;
    const binding = request.cookies[FLOW_COOKIE] ?? randomBytes(32).toString('base64url');
    const url = await rp.startLogin({ provider, next, binding });
    reply.setCookie(FLOW_COOKIE, binding, {
      httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies, maxAge: 10 * 60,
    });
    return reply.redirect(url.href, 302);
  });

  const callback = async (request: FastifyRequest, reply: FastifyReply) => {
    // Rebuilt from APP_URL: the Host header is the client's to choose.
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const callbackUrl = new URL(`${config.appUrl}/authorization-code/callback${query}`);
    const result = await rp.finishLogin(callbackUrl, request.cookies[FLOW_COOKIE]);
    const claims: ProviderClaims = { ...result.userinfo, ...result.claims };
    const { user, linkedBy } = await provisionUser(db, config.provisioning, result.provider.config, claims);
    await startSession(ctx, request, reply, {
      userId: user.id,
      provider: result.provider.config.id,
      providerSid: typeof result.claims.sid === 'string' ? result.claims.sid : null,
      tokens: result.tokens,
    });
    request.log.info({ provider: result.provider.config.id, userId: user.id, linkedBy }, 'provider sign-in');
    return reply.redirect(safeNext(result.next, config.appUrl), 302);
  };
  app.get('/authorization-code/callback', callback);
  app.get('/authorization-code/callback/', callback);

  app.get('/signout/callback', async (_request, reply) => reply.redirect('/', 302));
}
