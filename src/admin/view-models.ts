/**
 * What the admin templates receive: plain values only (strings, numbers, flags), with the labels
 * and formatting decided here, so that templates hold no logic beyond loops and conditions.
 */
import type { UserListRow } from '../accounts/user-list.ts';
import type { UserSource } from '../db/schema.ts';
import type { AuditEventType, AdminAction } from '../audit/index.ts';
import type { EventRow } from '../audit/stats.ts';
import { ERROR_CODES } from '../errors.ts';
import type { Done } from './actions.ts';
import type { CodeChart, DailyChart } from './charts.ts';

/** What every admin page gets besides its own data; the route adds it, with the signed-in user (src/web/pages/views.ts). */
export interface AdminBase {
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
  /** How the account came to be: Local, Provider or SCIM. */
  source: string;
  lastLogin: string;
  joined: string;
}

export interface UsersView extends AdminBase {
  q: string;
  users: (UserRowView & { groups: string[] })[];
  nextUrl: string | null;
  firstUrl: string | null;
  pageSize: number;
}

export interface UserDetailView extends AdminBase {
  target: UserRowView & {
    firstName: string; lastName: string; groups: string[];
    /** An operator entered the address, a provider said it is verified, or its user followed the mailed link. */
    emailVerified: boolean;
    /** Every role (ROLE_RULES, staff, superuser). */
    roles: string[];
    /** Staff comes from a ROLE_RULES rule: the staff button is not offered. */
    staffFromRule: boolean;
  };
  identities: { id: number; issuer: string; subject: string; provider: string; created: string; lastLogin: string }[];
  sessions: {
    id: string; created: string; lastSeen: string; expires: string; method: string; ip: string;
    userAgent: string; userAgentShort: string; current: boolean;
  }[];
  events: EventView[];
  /** The user's second factors (src/mfa/); `totp` is when the authenticator app was activated, or null. */
  factors: {
    totp: string | null;
    passkeys: { name: string; created: string; lastUsed: string }[];
    recoveryCodes: { total: number; left: number };
  };
  /** A superuser may remove them (for a lost phone). */
  canRemoveFactors: boolean;
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

/** A page's own values; the route adds the signed-in user and the CSRF token. */
export type PageData<V extends AdminBase> = Omit<V, keyof AdminBase>;

export const TYPE_LABELS: Record<AuditEventType, string> = {
  login_success: 'Sign-in',
  login_failure: 'Failed sign-in',
  logout: 'Logout',
  backchannel_logout: 'Back-channel logout',
  password_change: 'Password change',
  admin_action: 'Admin action',
  password_reset_request: 'Password reset request',
  password_reset: 'Password reset',
  email_change: 'Email change',
  email_verified: 'Email verified',
  session_end: 'Session ended by its user',
  mail_failed: 'Mail not delivered',
  second_factor: 'Second factor',
  provisioning: 'Provisioning (SCIM)',
  universal_logout: 'Universal Logout',
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
  set_email: 'set the email address',
  remove_factors: 'removed the second factors',
};

/** What a failure code means, for the chart's tooltips. */
export const codeMeaning = (code: string): string => (ERROR_CODES as Record<string, { meaning: string }>)[code]?.meaning ?? '';

const FLASH: Record<Done, string> = {
  deactivated: 'The account was deactivated and all its sessions ended.',
  reactivated: 'The account was reactivated.',
  session_ended: 'The session was ended.',
  sessions_ended: 'The sessions were ended.',
  identity_unlinked: 'The identity was unlinked, and sessions from its provider ended.',
  password_set: 'The new password was set, and the user’s sessions ended.',
  staff_granted: 'The user is now staff.',
  staff_revoked: 'The user is no longer staff.',
  email_set: 'The email address was set, as verified.',
  factors_removed: 'The second factors were removed, and the user’s sessions ended.',
};

/** The message after an action, from the `done` query parameter; null for anything unknown. */
export const flashFor = (done: string): string | null => (FLASH as Record<string, string>)[done] ?? null;

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

/** Labels a sign-in method: 'local', a provider id (its configured name), or ''. */
export function methodLabeller(providers: readonly { id: string; name: string }[]): (method: string) => string {
  return (method) => {
    if (method === 'local') return 'Local password';
    if (method === 'passkey') return 'Passkey';
    if (method === '') return '—';
    return providers.find((p) => p.id === method)?.name ?? method;
  };
}

/** `actors` maps the acting staff members' ids to their usernames. */
export function eventView(e: EventRow, methodLabel: (method: string) => string, actors: ReadonlyMap<number, string>): EventView {
  return {
    id: e.id,
    time: formatTime(e.time),
    type: e.type,
    typeLabel: (TYPE_LABELS as Record<string, string>)[e.type] ?? e.type,
    failed: e.error_code !== null,
    method: e.type === 'admin_action' ? '' : methodLabel(e.method),
    code: e.error_code ?? '',
    userId: e.user_id,
    username: e.username,
    actor: e.actor_id === null ? '' : actors.get(e.actor_id) ?? `#${e.actor_id}`,
    action: (ACTION_LABELS as Record<string, string>)[e.action] ?? e.action,
    // A grouped row stands for the anonymous failures of one minute and address (src/audit/index.ts).
    detail: e.count > 1 ? `${e.count} times in this minute` : e.detail,
    ip: e.ip,
    userAgent: e.user_agent,
    userAgentShort: shortUserAgent(e.user_agent),
  };
}

/** users.source as the admin shows it. */
const SOURCE_LABELS: Record<UserSource, string> = { local: 'Local', provider: 'Provider', scim: 'SCIM' };

export function userRowView(u: Omit<UserListRow, 'has_password'> & { has_password: boolean | number }): UserRowView {
  return {
    id: u.id,
    username: u.username,
    name: `${u.first_name} ${u.last_name}`.trim(),
    email: u.email,
    active: u.is_active === 1,
    staff: u.is_staff === 1,
    superuser: u.is_superuser === 1,
    localPassword: Boolean(u.has_password),
    source: SOURCE_LABELS[u.source] ?? u.source,
    lastLogin: formatTime(u.last_login),
    joined: formatTime(u.date_joined),
  };
}
