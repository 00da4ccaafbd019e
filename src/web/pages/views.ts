import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { AuditView, DashboardView, SessionsView, UserDetailView, UsersView } from '../../admin/view-models.ts';
import type { User } from '../../db/schema.ts';
import { ConfigError } from '../../errors.ts';

const OUR_VIEWS = fileURLToPath(new URL('./views', import.meta.url));

/**
 * The signed-in user as pages get them: the row's names and flags, with `hasPassword` in place of the
 * password hash. Pages are given this, never the row, so a host's template (the `views` option)
 * receives no secret.
 */
export interface UserView {
  id: number;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  isStaff: boolean;
  isSuperuser: boolean;
  /** A local password is set (the password change form applies). */
  hasPassword: boolean;
}

/**
 * The page's view of a user row, or null for none.
 *
 * @example
 * views.render('error', { user: userView(request.user), ... })
 */
export function userView(user: User): UserView;
export function userView(user: User | null): UserView | null;
export function userView(user: User | null): UserView | null {
  if (!user) return null;
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    firstName: user.first_name,
    lastName: user.last_name,
    isStaff: user.is_staff === 1,
    isSuperuser: user.is_superuser === 1,
    hasPassword: user.password !== null,
  };
}

/** The account page's data: the user's own values, identities and sessions, formatted for display. */
export interface AccountView {
  user: UserView;
  csrf: string;
  emailVerified: boolean;
  /** Whether this user may change their email here (a local password, and mail set up to verify it). */
  canChangeEmail: boolean;
  identities: { provider: string; issuer: string; subject: string; linked: string; lastLogin: string }[];
  sessions: { id: string; current: boolean; device: string; userAgent: string; ip: string; method: string; started: string; lastSeen: string }[];
  flash: string | null;
  error: string | null;
}

/** A mail of the development mailbox. */
export interface MailboxView {
  id: string;
  date: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  links: string[];
  hasHtml: boolean;
}

/** The signed-in staff user of every admin page, besides the page's own data (src/admin/view-models.ts). */
type AdminPage<V> = V & { user: UserView };

/**
 * The data each page gets, besides `brand`. A template of the same name in the `views` option's
 * directory replaces ours and gets the same data; `layout.eta` frames every page.
 */
export interface Views {
  home: { user: UserView | null; csrf: string; provider: string | null; loggedOut: boolean };
  /** `signedInAs`: the username of the session this browser already has, or null. */
  login: {
    error: string | null; csrf: string; next: string; username: string; providers: { name: string; query: string }[];
    loggedOut: boolean; signedInAs: string | null;
  };
  password_change: { user: UserView; csrf: string; error: string | null };
  password_change_done: { user: UserView };
  /** Django's registration/ templates of the same names. `mailConfigured`: false when reset by email is not set up here. */
  password_reset_form: { user: UserView | null; csrf: string; email: string; error: string | null; mailConfigured: boolean };
  password_reset_done: { user: UserView | null };
  /** `validlink` false: no form, only the news that the link is invalid or used. `action`: where the form posts. */
  password_reset_confirm: { user: UserView | null; validlink: boolean; csrf: string; action: string; username: string; error: string | null };
  password_reset_complete: { user: UserView | null };
  /** The signed-in user's own page (GET /accounts/). */
  account: AccountView;
  /** The page a verification link opens: a button that confirms (a mail scanner's GET confirms nothing). */
  email_verify: { user: UserView | null; validlink: boolean; csrf: string; action: string; email: string };
  /** Development only: the mails the app sent. `selected`: the mail shown whole. */
  dev_mailbox: { user: UserView | null; mails: MailboxView[]; selected: MailboxView | null; dir: string };
  error: { user: UserView | null; title: string; message: string; code: string; status: number; retry: string | null };
  'admin-dashboard': AdminPage<DashboardView>;
  'admin-users': AdminPage<UsersView>;
  'admin-user': AdminPage<UserDetailView>;
  'admin-sessions': AdminPage<SessionsView>;
  'admin-audit': AdminPage<AuditView>;
  // Second factors (src/web/routes/mfa.ts, mfa-sign-in.ts). `options`: WebAuthn options as JSON, for data-options.
  'mfa-index': {
    user: UserView; localAccount: boolean; totp: { since: string } | null; passkeys: number;
    recoveryCodes: { total: number; left: number }; canGenerateCodes: boolean; required: boolean; next: string | null; flash: string | null;
  };
  'mfa-totp-activate': { user: UserView; csrf: string; secret: string; qrCode: string; setup: string; error: string | null };
  'mfa-totp-deactivate': { user: UserView; csrf: string; error: string | null };
  /** `codes`: a new set, shown this once; null on the page that offers to make one. */
  'mfa-recovery-codes': {
    user: UserView; csrf: string; codes: string[] | null; total: number; left: number; canGenerate: boolean; error: string | null; flash: string | null;
  };
  'mfa-webauthn': {
    user: UserView; csrf: string; passkeys: { id: number; name: string; created: string; lastUsed: string | null; synced: boolean }[];
    options: string; suggestedName: string; error: string | null; flash: string | null;
  };
  /** The second step of a sign-in; no user is signed in yet. */
  'mfa-authenticate': { csrf: string; error: string | null; totp: boolean; passkeyOptions: string | null };
}

/** The product the pages name: in the header, the title and the footer. */
export interface Brand {
  /** Default "oidc-connect". */
  name?: string;
  /** An image shown before the name: a path on this site (/logo.svg) or an absolute http(s) URL, whose origin the pages' CSP then allows. */
  logoUrl?: string;
}

export interface ViewOptions {
  brand?: Brand;
  /** A directory of .eta templates that win over ours by name (login.eta, layout.eta, …). */
  views?: string;
}

export interface ViewRenderer {
  render<K extends keyof Views>(view: K, data: Views[K]): string;
  /** The product's name (`brand.name`): what mails carry, the issuer an authenticator app shows, the site a passkey is for. */
  readonly brandName: string;
  /** Origins the pages load images from besides their own (the logo's), for the Content-Security-Policy. */
  readonly imageOrigins: readonly string[];
}

/**
 * The pages' renderer. Eta escapes every `<%= %>` by default; every template is compiled when the
 * renderer is made. With a `views` directory, each template name is looked up there first, then in ours.
 */
export function createViews(options: ViewOptions = {}): ViewRenderer {
  const problems: string[] = [];
  const brand = { name: checkName(options.brand?.name, problems), logoUrl: checkLogo(options.brand?.logoUrl, problems) };
  const overrides = options.views === undefined ? undefined : resolve(options.views);
  if (overrides !== undefined && !(existsSync(overrides) && statSync(overrides).isDirectory())) {
    problems.push(`views: ${options.views} is not a directory of .eta templates`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const eta = new Eta({ views: OUR_VIEWS, cache: true, autoEscape: true });
  // Every template is found and compiled here, once: a page then costs a map lookup and the
  // template's own function (Eta's resolver would build a cache key and resolve paths at each render).
  const paths = new Map<string, string>();
  for (const dir of overrides === undefined ? [OUR_VIEWS] : [overrides, OUR_VIEWS]) {
    for (const file of readdirSync(dir)) {
      const name = file.endsWith('.eta') ? `./${file.slice(0, -'.eta'.length)}` : undefined;
      if (name !== undefined && !paths.has(name)) paths.set(name, join(dir, file));
    }
  }
  for (const path of paths.values()) {
    try {
      eta.loadTemplate(path, readFileSync(path, 'utf8'));
    } catch (error) {
      throw new ConfigError([`views: ${path} does not compile: ${(error as Error).message}`]);
    }
  }
  eta.resolvePath = (template) => {
    const path = paths.get(template);
    if (path === undefined) throw new Error(`template ${template}: there is no such template (only ./name is looked up)`);
    return path;
  };
  const logo = brand.logoUrl === undefined ? null : URL.parse(brand.logoUrl);
  return {
    render: (view, data) => eta.render(`./${view}`, { ...data, brand }),
    brandName: brand.name,
    imageOrigins: logo ? [logo.origin] : [],
  };
}

function checkName(name: string | undefined, problems: string[]): string {
  if (name === undefined) return 'oidc-connect';
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) problems.push('brand.name: must be a non-empty string of at most 100 characters');
  return name;
}

function checkLogo(url: string | undefined, problems: string[]): string | undefined {
  if (url === undefined) return undefined;
  const sitePath = typeof url === 'string' && /^\/(?![/\\])/.test(url);
  const absolute = typeof url === 'string' && /^https?:\/\//.test(url) && URL.canParse(url);
  if (!sitePath && !absolute) problems.push(`brand.logoUrl: ${String(url)} must be a path on this site such as /logo.svg, or an absolute http(s) URL`);
  return url;
}
