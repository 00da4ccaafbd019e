import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OidcConnectError, type ErrorCode } from '../../errors.ts';
import { isMultiFactor, stepUpAcrValues } from '../../mfa/policy.ts';
import { ReauthenticationRequired, type CompletedSignIn } from '../../rp/index.ts';
import { deleteSession } from '../../sessions/index.ts';
import { inSpan } from '../../tracing.ts';
import { audit, auditedSignIn, callbackProvider, startingProvider } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { hostCheck } from '../host-check.ts';
import { sendError, toOidcConnectError } from '../pages/error-pages.ts';
import { withLoggedOutFlag } from '../pages/logout-notice.ts';
import { clientAddress } from '../protection/rate-limits.ts';
import { safeNext } from '../protection/redirects.ts';
import { STEP_UP_PATH } from '../session/admin-mfa.ts';
import { clearSessionCookie } from '../session/cookie.ts';
import { completeProviderSignIn } from '../session/provider-sign-in.ts';
import { RENEW_PATH, renewalDue } from '../session/renewal.ts';

type Query = Record<string, string | string[] | undefined>;

/**
 * Binds logins in flight to this browser. One cookie serves every tab: each flow row stores its
 * hash, so several tabs can log in at once while a callback replayed in another browser fails.
 * Only a value we could have made is reused: a planted, guessable binding is replaced.
 */
const BINDING = /^[\w-]{43}$/;

export function oidcRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db, rp } = ctx;
  const FLOW_COOKIE = config.secureCookies ? '__Host-oc_flow' : 'oc_flow';
  const checkHost = hostCheck(config.appUrl);

  /** Sends the browser to the provider, with the binding cookie its callback must bring back. */
  const begin = async (request: FastifyRequest, reply: FastifyReply, input: {
    provider: string | undefined; next: string; renewsSession?: string; acrValues?: readonly string[]; maxAge?: number;
  }) => {
    checkHost(request);
    const existing = request.cookies[FLOW_COOKIE];
    const newBinding = existing === undefined || !BINDING.test(existing);
    const binding = newBinding ? randomBytes(32).toString('base64url') : existing;
    const url = await rp.startLogin({ ...input, binding, newBinding, client: clientAddress(request) });
    reply.setCookie(FLOW_COOKIE, binding, {
      httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies, maxAge: 10 * 60,
    });
    return reply.redirect(url.href, 302);
  };

  // The sign-in flow itself must run on a session due for renewal: it is how the session is renewed.
  const flow = { config: { renewal: false } };
  // Failures that name no login in progress are counted per address and minute, not written one by
  // one (src/audit/index.ts): any failure to start one, and a callback whose state names none.
  const notStarted = () => true;
  const unknownState = (code: ErrorCode) => code === 'STATE_INVALID';

  app.get('/authorization-code/authenticate/', flow, auditedSignIn(ctx, startingProvider(ctx), async (request, reply) => {
    // `prompt` is not read from the query: any site could send a browser here with prompt=none, and
    // the login_required answer would end whatever session it has. Silent renewal starts below.
    const query = request.query as Query;
    const provider = typeof query.provider === 'string' ? query.provider : undefined;
    return begin(request, reply, { provider, next: safeNext(query.next, config.appUrl, config.loginRedirectUrl) });
  }, notStarted));

  /**
   * The silent (prompt=none) renewal of this browser's provider session, only when it is due. The
   * flow is bound to that session, so a login_required answer ends that session and no other.
   */
  app.get(RENEW_PATH, flow, auditedSignIn(ctx, async (request) => request.session?.row.provider ?? '', async (request, reply) => {
    const next = safeNext((request.query as Query).next, config.appUrl);
    const session = request.session;
    if (!session || !renewalDue(session)) return reply.redirect(next, 302);
    return begin(request, reply, { provider: session.row.provider!, next, renewsSession: session.id });
  }));

  /**
   * A step-up: a new sign-in at the provider that asks for a second factor (`acr_values`: OIDC_MFA_ACR_VALUES,
   * else the PAPE multi-factor policy), with the browser's provider (or the default one), then back to
   * `next`. `?max_age=0` (or another number of seconds) asks for a fresh sign-in as well.
   */
  app.get(STEP_UP_PATH, flow, auditedSignIn(ctx, async (request) => request.session?.row.provider ?? ctx.rp.providers[0]?.id ?? '', async (request, reply) => {
    const query = request.query as Query;
    const next = safeNext(query.next, config.appUrl, config.loginRedirectUrl);
    const maxAge = typeof query.max_age === 'string' && /^\d{1,6}$/.test(query.max_age) ? Number(query.max_age) : undefined;
    const provider = request.session?.row.provider ?? undefined;
    return begin(request, reply, { provider, next, acrValues: stepUpAcrValues(config.mfa.acrValues), ...(maxAge === undefined ? {} : { maxAge }) });
  }, notStarted));

  const callback = async (request: FastifyRequest, reply: FastifyReply) => {
    // Rebuilt from APP_URL: the Host header is the client's to choose.
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const callbackUrl = new URL(`${config.appUrl}/authorization-code/callback${query}`);
    let result: CompletedSignIn;
    try {
      result = await rp.finishLogin(callbackUrl, request.cookies[FLOW_COOKIE]);
    } catch (error) {
      if (!(error instanceof ReauthenticationRequired)) throw error;
      // The silent renewal failed: the session it was for ends too (no other), and the user logs in again.
      await deleteSession(db, error.sessionId);
      if (request.session?.id === error.sessionId) {
        await audit(ctx, request, {
          type: 'logout', method: request.session.row.provider ?? '', userId: request.session.user.id,
          username: request.session.user.username, detail: 'provider session ended (silent renewal refused)',
        });
        clearSessionCookie(config, reply);
      }
      request.log.info({ code: error.code }, 'silent renewal refused by the provider');
      return reply.redirect(`/accounts/login/?${new URLSearchParams({ next: error.next })}`, 302);
    }
    const { user, linkedBy } = await completeProviderSignIn(ctx, request, reply, result);
    request.log.info({ provider: result.provider.config.id, userId: user.id, linkedBy }, 'provider sign-in');
    if (result.stepUp && !isMultiFactor({ amr: result.claims.amr, acr: result.claims.acr }, config.mfa.acrValues)) {
      // Signed in, but not as asked: said here rather than by sending the browser back to ask again, in a loop.
      return sendError(request, reply, new OidcConnectError('MFA_REQUIRED', `${result.provider.config.name} signed you in without a `
        + 'second factor, so the admin pages stay closed. Set one up with your provider, or ask your administrator to require one for this app.'), ctx.views);
    }
    return reply.redirect(safeNext(result.next, config.appUrl, config.loginRedirectUrl), 302);
  };
  const audited = auditedSignIn(ctx, callbackProvider(ctx), callback, unknownState);
  // One span for the whole callback: the provider calls, statements and audit write under it, our code on failure.
  const traced = (request: FastifyRequest, reply: FastifyReply) =>
    inSpan('oidc_connect.callback', { codeOf: (error) => toOidcConnectError(error).code }, () => audited(request, reply));
  app.get('/authorization-code/callback', flow, traced);
  app.get('/authorization-code/callback/', flow, traced);

  const afterLogout = withLoggedOutFlag(config.logoutRedirectUrl, config.appUrl);
  app.get('/signout/callback', flow, async (_request, reply) => reply.redirect(afterLogout, 302));

  /**
   * The public keys of OIDC_RP_PRIVATE_KEY, for providers that fetch the client's keys (Okta can):
   * during a rotation the new key is listed before it signs. No keys, no document.
   */
  if (config.providers.some((p) => (p.privateKeys?.length ?? 0) > 0)) {
    app.get('/.well-known/jwks.json', { config: { session: false, json: true } }, async (_request, reply) =>
      reply.type('application/jwk-set+json').header('cache-control', 'public, max-age=300').send(await rp.publicJwks()));
  }
}
