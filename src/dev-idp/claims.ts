import type { DemoUser } from './demo-users.ts';

/**
 * Which claims each scope releases, for the ID token and for userinfo alike.
 *
 * `groups` has its own scope, as an Okta org with a groups claim configures it, and is also
 * released with `profile`: the app's default scopes are `openid email profile`, and
 * OIDC_REQUIRED_GROUPS must work against the development provider without extra setup.
 */
export const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
} as const satisfies Record<string, readonly string[]>;

export const SUPPORTED_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

/** Every claim of a user; oidc-provider (and the userinfo handler) filter them by scope. */
export function userClaims(user: DemoUser): Record<string, unknown> {
  return {
    sub: user.sub,
    email: user.email,
    // Demo users are ours, so their addresses count as verified, as Okta reports for activated
    // users; a users file may say otherwise to try the app's "never link an unverified email" rule.
    email_verified: user.email_verified ?? true,
    name: [user.given_name, user.family_name].filter(Boolean).join(' ') || user.preferred_username,
    given_name: user.given_name,
    family_name: user.family_name,
    preferred_username: user.preferred_username,
    groups: [...user.groups],
  };
}

export function claimsForScopes(user: DemoUser, scopes: ReadonlySet<string>): Record<string, unknown> {
  const all = userClaims(user);
  const released: Record<string, unknown> = { sub: user.sub };
  for (const [scope, names] of Object.entries(SCOPE_CLAIMS)) {
    if (!scopes.has(scope)) continue;
    for (const name of names) released[name] = all[name];
  }
  return released;
}
