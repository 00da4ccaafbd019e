/**
 * /admin/: pages for staff (`is_staff`). A visitor who is not logged in is sent to the login page
 * (and comes back through `next`); a logged-in user who is not staff gets a 403 page. Every POST
 * is CSRF-protected and written to the audit log as an `admin_action`.
 *
 * Who may do what: staff see everything and manage ordinary accounts; accounts that are staff or
 * superuser themselves, and everyone's staff flag, are for superusers only (otherwise a staff
 * member could set a superuser's password and become one). Nobody can deactivate themselves or
 * take away their own staff flag, so the last admin can't lock everyone out by a slip.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkNewPassword } from '../../accounts/passwords.ts';
import { findUserById, setPassword } from '../../accounts/users.ts';
import { codeChart, dailyChart, type CodeChart, type DailyChart } from '../../admin/charts.ts';
import {
  activeSessionsOf, cursorParams, identitiesOf, listActiveSessions, listUsers, parseCursor, PAGE_SIZE,
} from '../../admin/users.ts';
import { AUDIT_EVENT_TYPES, isAuditEventType, type AdminAction, type AuditEventType } from '../../audit/index.ts';
import {
  activeSessionCount, DAY_MS, dayOf, failuresByCode, listEvents, signInsPerDay, type EventRow,
} from '../../audit/stats.ts';
import type { User } from '../../db/schema.ts';
import { isOidcConnectError, OidcConnectError } from '../../errors.ts';
import { deleteUserSessions } from '../../sessions/index.ts';
import { audit } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { requireLogin } from '../guards.ts';
import { render, type Views, type ViewUser } from '../views.ts';

type Query = Record<string, string | string[] | undefined>;
type Form = Record<string, string | string[] | undefined>;

const DASHBOARD_DAYS = 30;

// ---- view models (the templates receive only these plain values) --------------------------------

export interface AdminBase {
  user: ViewUser;
  csrf: string;
}

export interface EventView {
  id: number;
  time: string;
  type: string;
  typeLabel: string;
  failed: boolean;
  method: string;
  code: string;
  userId: number | null;
  username: string;
  actor: string;
  action: string;
  detail: string;
  ip: string;
  userAgent: string;
  userAgentShort: string;
}

export interface DashboardView extends AdminBase {
  daily: DailyChart;
  codes: CodeChart;
  activeSessions: number;
  recent: EventView[];
}

export interface UserRowView {
  id: number;
  username: string;
  name: string;
  email: string;
  active: boolean;
  staff: boolean;
  superuser: boolean;
  localPassword: boolean;
  lastLogin: string;
  joined: string;
}

export interface UsersView extends AdminBase {
  q: string;
  users: UserRowView[];
  nextUrl: string | null;
  firstUrl: string | null;
  pageSize: number;
}

export interface UserDetailView extends AdminBase {
  target: UserRowView & { firstName: string; lastName: string };
  identities: { id: number; issuer: string; subject: string; provider: string; created: string; lastLogin: string }[];
  sessions: {
    id: string; created: string; lastSeen: string; expires: string; method: string; ip: string;
    userAgent: string; userAgentShort: string; current: boolean;
  }[];
  events: EventView[];
  canManage: boolean;
  canToggleStaff: boolean;
  isSelf: boolean;
  flash: string | null;
  error: string | null;
}

export interface SessionsView extends AdminBase {
  sessions: {
    id: string; userId: number; username: string; created: string; lastSeen: string; method: string; ip: string;
    userAgent: string; userAgentShort: string;
  }[];
  nextUrl: string | null;
  firstUrl: string | null;
}

export interface AuditView extends AdminBase {
  events: EventView[];
  types: { value: string; label: string; selected: boolean }[];
  filterUser: { id: number; username: string } | null;
  nextUrl: string | null;
  firstUrl: string | null;
}

// ---- formatting ----------------------------------------------------------------------------------

const TYPE_LABELS: Record<AuditEventType, string> = {
  login_success: 'Sign-in',
  login_failure: 'Failed sign-in',
  logout: 'Logout',
  backchannel_logout: 'Back-channel logout',
  password_change: 'Password change',
  admin_action: 'Admin action',
};

const ACTION_LABELS: Record<AdminAction, string> = {
  deactivate: 'deactivated the account',
  reactivate: 'reactivated the account',
  end_session: 'ended a session',
  end_all_sessions: 'ended all sessions',
  unlink_identity: 'unlinked an identity',
  set_password: 'set a new password',
  grant_staff: 'made staff',
  revoke_staff: 'removed staff status',
};

/** What each failure code means, for the chart's tooltips. */
const CODE_MEANINGS: Record<string, string> = {
  INVALID_CREDENTIALS: 'wrong username or password',
  TOO_MANY_ATTEMPTS: 'locked out after repeated failures',
  USER_INACTIVE: 'the account is deactivated',
  USER_NOT_ALLOWED: 'refused by the email-domain or group rules',
  USER_CREATION_DISABLED: 'no account, and OIDC_CREATE_USER is off',
  STATE_INVALID: 'unknown, replayed or cross-browser sign-in response',
  FLOW_EXPIRED: 'the sign-in took longer than 10 minutes',
  NONCE_INVALID: 'the ID token does not belong to this sign-in',
  ID_TOKEN_INVALID: 'the ID token failed its checks',
  PROVIDER_ERROR: 'the provider answered with an error',
  PROVIDER_UNREACHABLE: 'the provider could not be reached',
  PROVIDER_TIMEOUT: 'the provider did not answer in time',
  PROVIDER_BAD_RESPONSE: 'the provider sent something invalid',
  USERINFO_INVALID: 'the userinfo response failed its checks',
  PROVIDER_NOT_CONFIGURED: 'an unknown provider was asked for',
  DATABASE_UNAVAILABLE: 'the database did not answer',
};

const FLASH: Record<string, string> = {
  deactivated: 'The account was deactivated and all its sessions ended.',
  reactivated: 'The account was reactivated.',
  session_ended: 'The session was ended.',
  sessions_ended: 'The sessions were ended.',
  identity_unlinked: 'The identity was unlinked, and sessions from its provider ended.',
  password_set: 'The new password was set, and the user’s sessions ended.',
  staff_granted: 'The user is now staff.',
  staff_revoked: 'The user is no longer staff.',
};

const pad = (n: number) => String(n).padStart(2, '0');

/** "2026-03-05 14:03" in UTC; the pages say UTC in their headings. */
export function formatTime(ms: number | null): string {
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** "Chrome 131 on Linux": enough to tell sessions apart; the full string is in the tooltip. */
export function shortUserAgent(ua: string): string {
  if (ua === '') return '—';
  const browser = /Edg\/(\d+)/.exec(ua) ? `Edge ${/Edg\/(\d+)/.exec(ua)![1]}`
    : /Firefox\/(\d+)/.exec(ua) ? `Firefox ${/Firefox\/(\d+)/.exec(ua)![1]}`
      : /(?:HeadlessChrome|Chrome|Chromium)\/(\d+)/.exec(ua) ? `Chrome ${/(?:HeadlessChrome|Chrome|Chromium)\/(\d+)/.exec(ua)![1]}`
        : /Version\/(\d+)[\d.]* .*Safari\//.exec(ua) ? `Safari ${/Version\/(\d+)/.exec(ua)![1]}`
          : /^([\w.-]+)\/([\d.]+)/.exec(ua) ? `${/^([\w.-]+)\/([\d.]+)/.exec(ua)![1]} ${/^([\w.-]+)\/([\d.]+)/.exec(ua)![2]}`
            : ua.slice(0, 40);
  const os = /Windows/.test(ua) ? 'Windows' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
    : /Android/.test(ua) ? 'Android' : /Linux|X11/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

function field(body: unknown, name: string): string {
  const value = (body as Form | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

function param(query: unknown, name: string): string {
  const value = (query as Query)[name];
  return typeof value === 'string' ? value : '';
}

// ---- routes --------------------------------------------------------------------------------------

export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;

  /** preHandler: staff only. Logged out: to the login page with `next`; not staff: 403. */
  const requireStaff = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!request.user) return requireLogin(request, reply);
    if (!request.user.is_staff) throw new OidcConnectError('FORBIDDEN', 'These pages are for staff only.');
    return undefined;
  };
  const staffPost = { preHandler: [requireStaff, app.csrfProtection] };

  const page = <K extends keyof Views>(reply: FastifyReply, view: K, data: Views[K]) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(render(view, data));

  const methodLabel = (method: string): string => {
    if (method === 'local') return 'Local password';
    if (method === '') return '—';
    return ctx.rp.providers.find((p) => p.id === method)?.name ?? method;
  };

  const eventView = (e: EventRow): EventView => ({
    id: e.id,
    time: formatTime(e.time),
    type: e.type,
    typeLabel: (TYPE_LABELS as Record<string, string>)[e.type] ?? e.type,
    failed: e.error_code !== null,
    method: e.type === 'admin_action' ? '' : methodLabel(e.method),
    code: e.error_code ?? '',
    userId: e.user_id,
    username: e.username,
    actor: e.actor_username ?? (e.actor_id === null ? '' : `#${e.actor_id}`),
    action: (ACTION_LABELS as Record<string, string>)[e.action] ?? e.action,
    detail: e.detail,
    ip: e.ip,
    userAgent: e.user_agent,
    userAgentShort: shortUserAgent(e.user_agent),
  });

  const userRow = (u: Pick<User, 'id' | 'username' | 'email' | 'first_name' | 'last_name' | 'is_active' | 'is_staff' | 'is_superuser' | 'last_login' | 'date_joined'> & { has_password: boolean | number }): UserRowView => ({
    id: u.id,
    username: u.username,
    name: `${u.first_name} ${u.last_name}`.trim(),
    email: u.email,
    active: u.is_active === 1,
    staff: u.is_staff === 1,
    superuser: u.is_superuser === 1,
    localPassword: Boolean(u.has_password),
    lastLogin: formatTime(u.last_login),
    joined: formatTime(u.date_joined),
  });

  app.get('/admin', { preHandler: requireStaff }, async (_request, reply) => reply.redirect('/admin/', 302));

  app.get('/admin/', { preHandler: requireStaff }, async (request, reply) => {
    const now = Date.now();
    const [daily, codes, activeSessions, recent] = await Promise.all([
      signInsPerDay(db, DASHBOARD_DAYS, now),
      failuresByCode(db, (dayOf(now) - DASHBOARD_DAYS + 1) * DAY_MS),
      activeSessionCount(db, config.session, now),
      listEvents(db, {}, 8),
    ]);
    return page(reply, 'admin-dashboard', {
      user: request.user,
      csrf: '',
      daily: dailyChart(daily, { days: DASHBOARD_DAYS, now, methodLabel }),
      codes: codeChart(codes, (code) => CODE_MEANINGS[code] ?? ''),
      activeSessions,
      recent: recent.events.map(eventView),
    });
  });

  app.get('/admin/users/', { preHandler: requireStaff }, async (request, reply) => {
    const q = param(request.query, 'q').trim().slice(0, 254);
    const after = parseCursor(request.query as Query);
    const result = await listUsers(db, { q, after });
    const base: Record<string, string> = q === '' ? {} : { q };
    return page(reply, 'admin-users', {
      user: request.user,
      csrf: '',
      q,
      users: result.users.map(userRow),
      nextUrl: result.next ? `/admin/users/?${new URLSearchParams({ ...base, ...cursorParams(result.next) })}` : null,
      firstUrl: after ? `/admin/users/${q === '' ? '' : `?${new URLSearchParams(base)}`}` : null,
      pageSize: PAGE_SIZE,
    });
  });

  /** The user of `:id`, or a 404 page. */
  const targetOf = async (request: FastifyRequest): Promise<User> => {
    const id = (request.params as { id: string }).id;
    const target = /^\d{1,15}$/.test(id) ? await findUserById(db, Number(id)) : undefined;
    if (!target) throw new OidcConnectError('USER_NOT_FOUND', 'There is no user with this id.');
    return target;
  };

  const userDetail = async (request: FastifyRequest, reply: FastifyReply, target: User, messages: { flash?: string | null; error?: string | null } = {}) => {
    const actor = request.user!;
    const now = Date.now();
    const [identities, sessions, events] = await Promise.all([
      identitiesOf(db, target.id),
      activeSessionsOf(db, target.id, config.session, now),
      listEvents(db, { userId: target.id }, 10),
    ]);
    return page(reply, 'admin-user', {
      user: actor,
      csrf: reply.generateCsrf(),
      target: {
        ...userRow({ ...target, has_password: target.password !== null }),
        firstName: target.first_name,
        lastName: target.last_name,
      },
      identities: identities.map((i) => ({
        id: i.id,
        issuer: i.issuer,
        subject: i.subject,
        provider: ctx.rp.providers.find((p) => p.issuer === i.issuer)?.name ?? '',
        created: formatTime(i.created),
        lastLogin: formatTime(i.last_login),
      })),
      sessions: sessions.map((s) => ({
        id: s.id,
        created: formatTime(s.created),
        lastSeen: formatTime(s.last_seen),
        expires: formatTime(s.expires),
        method: methodLabel(s.provider ?? 'local'),
        ip: s.ip,
        userAgent: s.user_agent,
        userAgentShort: shortUserAgent(s.user_agent),
        current: s.id === request.session?.id,
      })),
      events: events.events.map(eventView),
      canManage: canManage(actor, target),
      canToggleStaff: actor.is_superuser === 1 && actor.id !== target.id,
      isSelf: actor.id === target.id,
      flash: messages.flash ?? null,
      error: messages.error ?? null,
    });
  };

  app.get('/admin/users/:id/', { preHandler: requireStaff }, async (request, reply) => {
    const target = await targetOf(request);
    const done = param(request.query, 'done');
    return userDetail(request, reply, target, { flash: FLASH[done] ?? null });
  });
  app.get('/admin/users/:id', { preHandler: requireStaff }, async (request, reply) =>
    reply.redirect(`/admin/users/${(await targetOf(request)).id}/`, 302));

  /**
   * Shared by the POSTs: loads the target, checks the actor may manage it, runs the action, writes
   * the audit event and redirects back to the user's page (303, so a reload doesn't resubmit).
   * An action may answer with a message for the user instead (re-rendered with 400).
   */
  const action = (
    path: string,
    run: (request: FastifyRequest, actor: User, target: User) => Promise<{ action: AdminAction; detail?: string; done: string } | { error: string }>,
    options: { superuserOnly?: boolean } = {},
  ) => {
    app.post(`/admin/users/:id/${path}`, staffPost, async (request, reply) => {
      const actor = request.user!;
      const target = await targetOf(request);
      if (options.superuserOnly && actor.is_superuser !== 1) {
        throw new OidcConnectError('FORBIDDEN', 'Only superusers can change staff status.');
      }
      if (!canManage(actor, target)) {
        throw new OidcConnectError('FORBIDDEN', 'Only superusers can manage staff and superuser accounts.');
      }
      const outcome = await run(request, actor, target);
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

  const sessionsEnded = (n: number) => `${n} session${n === 1 ? '' : 's'} ended`;

  action('active', async (request, actor, target) => {
    const active = field(request.body, 'active');
    if (active === '0') {
      if (actor.id === target.id) return { error: 'You can’t deactivate your own account.' };
      // Both in one transaction: no request can slip in between with the account still active.
      const ended = await db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ is_active: 0 }).where('id', '=', target.id).execute();
        return deleteUserSessions(trx, target.id);
      });
      return { action: 'deactivate', detail: sessionsEnded(ended), done: 'deactivated' };
    }
    if (active === '1') {
      await db.updateTable('users').set({ is_active: 1 }).where('id', '=', target.id).execute();
      return { action: 'reactivate', done: 'reactivated' };
    }
    return { error: 'Choose whether the account is active.' };
  });

  action('staff', async (request, actor, target) => {
    const staff = field(request.body, 'staff');
    if (staff !== '0' && staff !== '1') return { error: 'Choose whether the user is staff.' };
    if (actor.id === target.id) return { error: 'You can’t change your own staff status.' };
    await db.updateTable('users').set({ is_staff: staff === '1' ? 1 : 0 }).where('id', '=', target.id).execute();
    return staff === '1' ? { action: 'grant_staff', done: 'staff_granted' } : { action: 'revoke_staff', done: 'staff_revoked' };
  }, { superuserOnly: true });

  action('password', async (request, _actor, target) => {
    const password1 = field(request.body, 'password1');
    const password2 = field(request.body, 'password2');
    if (password1.length > 4096) return { error: 'The password is too long.' };
    if (password1 !== password2) return { error: 'The two password fields didn’t match.' };
    try {
      checkNewPassword(password1);
    } catch (error) {
      if (isOidcConnectError(error)) return { error: error.message };
      throw error;
    }
    await setPassword(db, target.id, password1);
    // As after a password change: whoever knew the old password is cut off (the admin's own session stays).
    const ended = await deleteUserSessions(db, target.id, request.session?.id);
    return { action: 'set_password', detail: sessionsEnded(ended), done: 'password_set' };
  });

  action('sessions/end', async (request, _actor, target) => {
    const which = field(request.body, 'session');
    if (which === 'all') {
      // Ending "all" of your own sessions keeps the one you are using.
      const ended = await deleteUserSessions(db, target.id, request.session?.id);
      return { action: 'end_all_sessions', detail: sessionsEnded(ended), done: 'sessions_ended' };
    }
    if (which === '' || which.length > 64) return { error: 'Choose a session to end.' };
    const result = await db.deleteFrom('sessions').where('id', '=', which).where('user_id', '=', target.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) return { error: 'That session has already ended.' };
    return { action: 'end_session', detail: sessionsEnded(1), done: 'session_ended' };
  });

  action('identities/unlink', async (request, _actor, target) => {
    const id = field(request.body, 'identity');
    if (!/^\d{1,15}$/.test(id)) return { error: 'Choose an identity to unlink.' };
    const identity = await db.selectFrom('identities').select(['id', 'issuer']).where('id', '=', Number(id))
      .where('user_id', '=', target.id).executeTakeFirst();
    if (!identity) return { error: 'That identity is no longer linked.' };
    const providers = ctx.rp.providers.filter((p) => p.issuer === identity.issuer).map((p) => p.id);
    const ended = await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('identities').where('id', '=', identity.id).execute();
      if (providers.length === 0) return 0;
      // Sessions that came through this provider no longer have an identity behind them.
      const deleted = await trx.deleteFrom('sessions').where('user_id', '=', target.id).where('provider', 'in', providers).executeTakeFirst();
      return Number(deleted.numDeletedRows);
    });
    return { action: 'unlink_identity', detail: `${identity.issuer}; ${sessionsEnded(ended)}`, done: 'identity_unlinked' };
  });

  app.get('/admin/sessions/', { preHandler: requireStaff }, async (request, reply) => {
    const rawBefore = param(request.query, 'before');
    const match = /^(\d{1,15}):([\w-]{1,64})$/.exec(rawBefore);
    const before = match ? { expires: Number(match[1]), id: match[2]! } : null;
    const result = await listActiveSessions(db, config.session, before);
    return page(reply, 'admin-sessions', {
      user: request.user,
      csrf: '',
      sessions: result.sessions.map((s) => ({
        id: s.id,
        userId: s.user_id,
        username: s.username,
        created: formatTime(s.created),
        lastSeen: formatTime(s.last_seen),
        method: methodLabel(s.provider ?? 'local'),
        ip: s.ip,
        userAgent: s.user_agent,
        userAgentShort: shortUserAgent(s.user_agent),
      })),
      nextUrl: result.next ? `/admin/sessions/?${new URLSearchParams({ before: `${result.next.expires}:${result.next.id}` })}` : null,
      firstUrl: before ? '/admin/sessions/' : null,
    });
  });

  app.get('/admin/audit/', { preHandler: requireStaff }, async (request, reply) => {
    const rawType = param(request.query, 'type');
    const type = isAuditEventType(rawType) ? rawType : undefined;
    const rawUser = param(request.query, 'user');
    const filterUser = /^\d{1,15}$/.test(rawUser) ? await findUserById(db, Number(rawUser)) : undefined;
    const userId = /^\d{1,15}$/.test(rawUser) ? Number(rawUser) : undefined;
    const match = /^(\d{1,15}):(\d{1,15})$/.exec(param(request.query, 'before'));
    const before = match ? { time: Number(match[1]), id: Number(match[2]) } : undefined;
    const result = await listEvents(db, {
      ...(type ? { type } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(before ? { before } : {}),
    });
    const filters: Record<string, string> = {
      ...(type ? { type } : {}),
      ...(userId !== undefined ? { user: String(userId) } : {}),
    };
    return page(reply, 'admin-audit', {
      user: request.user,
      csrf: '',
      events: result.events.map(eventView),
      types: AUDIT_EVENT_TYPES.map((t) => ({ value: t, label: TYPE_LABELS[t], selected: t === type })),
      filterUser: userId === undefined ? null : { id: userId, username: filterUser?.username ?? `#${userId}` },
      nextUrl: result.next
        ? `/admin/audit/?${new URLSearchParams({ ...filters, before: `${result.next.time}:${result.next.id}` })}`
        : null,
      firstUrl: before ? `/admin/audit/${Object.keys(filters).length ? `?${new URLSearchParams(filters)}` : ''}` : null,
    });
  });
}

/** Staff manage ordinary accounts; staff and superuser accounts are for superusers. */
export function canManage(actor: Pick<User, 'is_superuser'>, target: Pick<User, 'is_staff' | 'is_superuser'>): boolean {
  return actor.is_superuser === 1 || (target.is_staff === 0 && target.is_superuser === 0);
}
