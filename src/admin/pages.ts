/**
 * The data of each admin page: read from the tables' owners, shaped by view-models.ts. Query
 * parameters arrive raw; anything malformed means "no filter" or "first page".
 */
import { groupsOfUsers, userGroups } from '../accounts/groups.ts';
import { flagFromRule, userRoles } from '../accounts/roles.ts';
import { findUserById, usernamesByIds } from '../accounts/users.ts';
import { AUDIT_EVENT_TYPES, isAuditEventType } from '../audit/index.ts';
import { DAY_MS, dayOf, failuresByCode, listEvents, signInsPerDay, type EventRow } from '../audit/stats.ts';
import type { ProviderConfig } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { factorsOf } from '../mfa/factors.ts';
import { identitiesOf } from '../provisioning/identities.ts';
import { activeSessionCount, activeSessionsOf, listActiveSessions } from '../sessions/listing.ts';
import { codeChart, dailyChart } from './charts.ts';
import { canManage, canToggleStaff } from './policy.ts';
import { searchUsers } from './user-search.ts';
import {
  codeMeaning, eventView, formatTime, methodLabeller, shortUserAgent, TYPE_LABELS, userRowView,
  type AuditView, type DashboardView, type EventView, type PageData, type SessionsView, type UserDetailView, type UsersView,
} from './view-models.ts';

const DASHBOARD_DAYS = 30;

/** What every page reads with. */
export interface AdminScope {
  db: Db;
  providers: readonly ProviderConfig[];
  session: { idleTimeoutSeconds: number };
}

type Query = Record<string, unknown>;

const param = (query: Query, name: string): string => (typeof query[name] === 'string' ? query[name] : '');

async function eventViews(scope: AdminScope, events: EventRow[]): Promise<EventView[]> {
  const actors = await usernamesByIds(scope.db, events.flatMap((e) => (e.actor_id === null ? [] : [e.actor_id])));
  const methodLabel = methodLabeller(scope.providers);
  return events.map((e) => eventView(e, methodLabel, actors));
}

export async function dashboardPage(scope: AdminScope, now = Date.now()): Promise<PageData<DashboardView>> {
  const { db } = scope;
  const [daily, codes, activeSessions, recent] = await Promise.all([
    signInsPerDay(db, DASHBOARD_DAYS, now),
    failuresByCode(db, (dayOf(now) - DASHBOARD_DAYS + 1) * DAY_MS),
    activeSessionCount(db, scope.session, now),
    listEvents(db, {}, 8),
  ]);
  return {
    daily: dailyChart(daily, { days: DASHBOARD_DAYS, now, methodLabel: methodLabeller(scope.providers) }),
    codes: codeChart(codes, codeMeaning),
    activeSessions,
    recent: await eventViews(scope, recent.events),
  };
}

export async function usersPage(scope: AdminScope, query: Query): Promise<PageData<UsersView>> {
  const found = await searchUsers(scope.db, query);
  // The page's ids only: one primary-key lookup per row, whatever the size of the table.
  const groups = await groupsOfUsers(scope.db, found.page.users.map((u) => u.id));
  return {
    q: found.q,
    users: found.page.users.map((u) => ({ ...userRowView(u), groups: groups.get(u.id) ?? [] })),
    nextUrl: found.nextUrl,
    firstUrl: found.firstUrl,
    pageSize: found.pageSize,
  };
}

/** The user of an `:id` path parameter, or undefined. */
export async function findTarget(db: Db, id: string): Promise<User | undefined> {
  return /^\d{1,15}$/.test(id) ? findUserById(db, Number(id)) : undefined;
}

export async function userPage(
  scope: AdminScope,
  actor: User,
  target: User,
  currentSessionId: string | undefined,
  messages: { flash?: string | null; error?: string | null } = {},
  now = Date.now(),
): Promise<PageData<UserDetailView>> {
  const { db } = scope;
  const methodLabel = methodLabeller(scope.providers);
  const [identities, sessions, events, groups, factors] = await Promise.all([
    identitiesOf(db, target.id),
    activeSessionsOf(db, target.id, scope.session, now),
    listEvents(db, { userId: target.id }, 10),
    userGroups(db, target.id),
    factorsOf(db, target.id),
  ]);
  return {
    target: {
      ...userRowView({ ...target, has_password: target.password !== null }),
      firstName: target.first_name,
      lastName: target.last_name,
      groups,
      emailVerified: target.email_verified === 1,
      roles: userRoles(target),
      staffFromRule: flagFromRule(target, 'staff'),
    },
    identities: identities.map((i) => ({
      id: i.id,
      issuer: i.issuer,
      subject: i.subject,
      provider: scope.providers.find((p) => p.issuer === i.issuer)?.name ?? '',
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
      current: s.id === currentSessionId,
    })),
    events: await eventViews(scope, events.events),
    factors: {
      totp: factors.totp && formatTime(factors.totp.created),
      passkeys: factors.passkeys.map((p) => ({ name: p.name, created: formatTime(p.created), lastUsed: formatTime(p.lastUsed) })),
      recoveryCodes: factors.recoveryCodes,
    },
    canRemoveFactors: actor.is_superuser === 1 && (factors.totp !== null || factors.passkeys.length > 0 || factors.recoveryCodes.total > 0),
    canManage: canManage(actor, target),
    canToggleStaff: canToggleStaff(actor, target),
    isSelf: actor.id === target.id,
    flash: messages.flash ?? null,
    error: messages.error ?? null,
  };
}

export async function sessionsPage(scope: AdminScope, query: Query): Promise<PageData<SessionsView>> {
  const match = /^(\d{1,15}):([\w-]{1,64})$/.exec(param(query, 'before'));
  const before = match ? { expires: Number(match[1]), id: match[2]! } : null;
  const result = await listActiveSessions(scope.db, scope.session, before);
  const usernames = await usernamesByIds(scope.db, result.sessions.map((s) => s.user_id));
  const methodLabel = methodLabeller(scope.providers);
  return {
    sessions: result.sessions.map((s) => ({
      id: s.id,
      userId: s.user_id,
      username: usernames.get(s.user_id) ?? `#${s.user_id}`,
      created: formatTime(s.created),
      lastSeen: formatTime(s.last_seen),
      method: methodLabel(s.provider ?? 'local'),
      ip: s.ip,
      userAgent: s.user_agent,
      userAgentShort: shortUserAgent(s.user_agent),
    })),
    nextUrl: result.next ? `/admin/sessions/?${new URLSearchParams({ before: `${result.next.expires}:${result.next.id}` })}` : null,
    firstUrl: before ? '/admin/sessions/' : null,
  };
}

export async function auditPage(scope: AdminScope, query: Query): Promise<PageData<AuditView>> {
  const rawType = param(query, 'type');
  const type = isAuditEventType(rawType) ? rawType : undefined;
  const rawUser = param(query, 'user');
  const userId = /^\d{1,15}$/.test(rawUser) ? Number(rawUser) : undefined;
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(param(query, 'before'));
  const before = match ? { time: Number(match[1]), id: Number(match[2]) } : undefined;
  const [filterUser, result] = await Promise.all([
    userId === undefined ? undefined : findUserById(scope.db, userId),
    listEvents(scope.db, {
      ...(type ? { type } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(before ? { before } : {}),
    }),
  ]);
  const filters: Record<string, string> = {
    ...(type ? { type } : {}),
    ...(userId !== undefined ? { user: String(userId) } : {}),
  };
  return {
    events: await eventViews(scope, result.events),
    types: AUDIT_EVENT_TYPES.map((t) => ({ value: t, label: TYPE_LABELS[t], selected: t === type })),
    filterUser: userId === undefined ? null : { id: userId, username: filterUser?.username ?? `#${userId}` },
    nextUrl: result.next
      ? `/admin/audit/?${new URLSearchParams({ ...filters, before: `${result.next.time}:${result.next.id}` })}`
      : null,
    firstUrl: before ? `/admin/audit/${Object.keys(filters).length ? `?${new URLSearchParams(filters)}` : ''}` : null,
  };
}
