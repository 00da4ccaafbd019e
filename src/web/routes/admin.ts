/**
 * /admin/: pages for staff (`is_staff`). A visitor who is not logged in is sent to the login page
 * (and comes back through `next`); a logged-in user who is not staff gets a 403 page. Every POST
 * is CSRF-protected and written to the audit log as an `admin_action`. Who may do what is
 * src/admin/policy.ts, the actions are src/admin/actions.ts, the pages' data src/admin/pages.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  endSessions, removeFactors, setAccountActive, setStaffStatus, setUserEmail, setUserPassword, unlinkUserIdentity, type AdminActionRun,
} from '../../admin/actions.ts';
import { auditPage, dashboardPage, findTarget, sessionsPage, userPage, usersPage, type AdminScope } from '../../admin/pages.ts';
import { checkMayAct, checkStaff } from '../../admin/policy.ts';
import { flashFor } from '../../admin/view-models.ts';
import type { User } from '../../db/schema.ts';
import { OidcConnectError } from '../../errors.ts';
import { audit } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field } from '../form.ts';
import { userView, type Views } from '../pages/views.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { adminMfaGuard } from '../session/admin-mfa.ts';
import { requireLogin } from '../session/guards.ts';

type Fields = Record<string, unknown>;

export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const scope: AdminScope = { db: ctx.db, providers: ctx.rp.providers, session: ctx.config.session };

  const requireMfa = adminMfaGuard(ctx);
  /** preHandler: staff only. Logged out: to the login page with `next`; not staff: 403; then ADMIN_REQUIRE_MFA. */
  const requireStaff = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!request.user) return requireLogin(request, reply);
    checkStaff(request.user);
    return requireMfa(request, reply);
  };
  const staffGet = { preHandler: requireStaff };
  const staffPost = { preHandler: [requireStaff, formTokenCheck(app)] };

  const page = <K extends keyof Views>(reply: FastifyReply, view: K, data: Views[K]) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(ctx.views.render(view, data));

  /** The user of `:id`, or a 404 page. */
  const targetOf = async (request: FastifyRequest): Promise<User> => {
    const target = await findTarget(ctx.db, (request.params as { id: string }).id);
    if (!target) throw new OidcConnectError('USER_NOT_FOUND', 'There is no user with this id.');
    return target;
  };

  const userDetail = async (request: FastifyRequest, reply: FastifyReply, target: User, messages: { flash?: string | null; error?: string | null }) =>
    page(reply, 'admin-user', {
      user: userView(request.user!),
      csrf: formToken(reply),
      ...await userPage(scope, request.user!, target, request.session?.id, messages),
    });

  app.get('/admin', staffGet, async (_request, reply) => reply.redirect('/admin/', 302));
  app.get('/admin/', staffGet, async (request, reply) =>
    page(reply, 'admin-dashboard', { user: userView(request.user!), csrf: '', ...await dashboardPage(scope) }));
  app.get('/admin/users/', staffGet, async (request, reply) =>
    page(reply, 'admin-users', { user: userView(request.user!), csrf: '', ...await usersPage(scope, request.query as Fields) }));
  app.get('/admin/users/:id/', staffGet, async (request, reply) =>
    userDetail(request, reply, await targetOf(request), { flash: flashFor(field(request.query, 'done')) }));
  app.get('/admin/users/:id', staffGet, async (request, reply) =>
    reply.redirect(`/admin/users/${(await targetOf(request)).id}/`, 302));
  app.get('/admin/sessions/', staffGet, async (request, reply) =>
    page(reply, 'admin-sessions', { user: userView(request.user!), csrf: '', ...await sessionsPage(scope, request.query as Fields) }));
  app.get('/admin/audit/', staffGet, async (request, reply) =>
    page(reply, 'admin-audit', { user: userView(request.user!), csrf: '', ...await auditPage(scope, request.query as Fields) }));

  /**
   * Each POST: load the target, check the actor may act on it, run the action, write the audit
   * event and redirect back to the user's page (303, so a reload doesn't resubmit). An action may
   * answer with a message for the user instead (re-rendered with 400).
   */
  const action = (path: string, run: AdminActionRun, options: { superuserOnly?: string } = {}) => {
    app.post(`/admin/users/:id/${path}`, staffPost, async (request, reply) => {
      const actor = request.user!;
      const target = await targetOf(request);
      checkMayAct(actor, target, options);
      const outcome = await run({
        db: ctx.db,
        actor,
        target,
        form: (name) => field(request.body, name),
        currentSessionId: request.session?.id,
        providers: ctx.rp.providers,
      });
      if ('error' in outcome) return userDetail(request, reply.code(400), target, { error: outcome.error });
      await audit(ctx, request, {
        type: 'admin_action',
        action: outcome.action,
        actorId: actor.id,
        userId: target.id,
        username: target.username,
        ...(outcome.detail ? { detail: outcome.detail } : {}),
      });
      return reply.redirect(`/admin/users/${target.id}/?done=${outcome.done}`, 303);
    });
  };

  action('active', setAccountActive);
  action('staff', setStaffStatus, { superuserOnly: 'change staff status' });
  action('password', setUserPassword);
  action('email', setUserEmail);
  action('sessions/end', endSessions);
  action('identities/unlink', unlinkUserIdentity);
  action('mfa/remove', removeFactors, { superuserOnly: 'remove second factors' });
}
