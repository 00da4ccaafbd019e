import { normalizeEmail } from '../accounts/email.ts';
import { findUserByExternalId } from '../accounts/directory.ts';
import { ensureGroups, setUserGroups } from '../accounts/groups.ts';
import { applyRoleRules } from '../accounts/roles.ts';
import { createUserWithFreeUsername, findUserById, findVerifiedUsersByEmail, updateProfile, type Profile } from '../accounts/users.ts';
import type { Config, ProviderConfig, RoleRule } from '../config/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { findIdentityWithUser, hasOtherIdentityAt, linkIdentity, touchIdentity } from './identities.ts';
import { baseUsername, usernameCandidates } from './username.ts';

export interface ProviderClaims {
  sub: string;
  email?: unknown;
  email_verified?: unknown;
  preferred_username?: unknown;
  given_name?: unknown;
  family_name?: unknown;
  groups?: unknown;
  [claim: string]: unknown;
}

export type ProvisioningPolicy = Config['provisioning'] & {
  /**
   * SCIM_MATCH_CLAIM: at a first sign-in, the claim compared with the externalId of a SCIM user (Entra: `oid`,
   * since its `sub` is pairwise). Unset: no such matching.
   */
  readonly matchClaim?: string;
  /**
   * ROLE_RULES: when set, the `groups` claim becomes the groups of a user not managed by SCIM at each
   * sign-in, and their roles follow (src/accounts/roles.ts).
   */
  readonly roleRules?: readonly RoleRule[];
};

/** How the sign-in found its user: `external_id` is a SCIM user matched by SCIM_MATCH_CLAIM. */
export type LinkedBy = 'identity' | 'external_id' | 'email' | 'created';

/** Group names taken from one groups claim, at most. */
const MAX_CLAIM_GROUPS = 500;

const str = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');

/** The claims checks: a refused user gets a 403 before anything is written. */
export function checkClaims(policy: ProvisioningPolicy, claims: ProviderClaims): void {
  if (policy.allowedEmailDomains.length > 0) {
    const email = normalizeEmail(str(claims.email, 254));
    const domain = email.includes('@') ? email.slice(email.lastIndexOf('@') + 1) : '';
    if (claims.email_verified !== true || !policy.allowedEmailDomains.some((allowed) => normalizeEmail(allowed) === domain)) {
      throw new OidcConnectError('USER_NOT_ALLOWED', `Sign-in is limited to verified email addresses at ${policy.allowedEmailDomains.join(', ')}.`);
    }
  }
  if (policy.requiredGroups.length > 0) {
    const groups = Array.isArray(claims.groups) ? claims.groups : [];
    if (!policy.requiredGroups.some((group) => groups.includes(group))) {
      throw new OidcConnectError('USER_NOT_ALLOWED', `Sign-in is limited to members of ${policy.requiredGroups.join(', ')}.`);
    }
  }
}

/**
 * Finds or creates the local user for a provider identity, in this order: the identity
 * (issuer, sub); a local user with the same email, only when both sides have verified it (the
 * provider's email_verified, and the stored users.email_verified) and that user has no identity
 * at this issuer yet (IDENTITY_CONFLICT otherwise); a new user. Emails compare by normalizeEmail.
 * Profile fields, and whether the email is verified, follow the claims at every login.
 *
 * Runs in a transaction of its own, or in the caller's when `db` is one (a sign-in's writes are one
 * transaction): two first logins of one person that race end in a unique violation, which the
 * caller then retries with a new transaction, as this function does with its own.
 */
export async function provisionUser(
  db: Db,
  policy: ProvisioningPolicy,
  provider: ProviderConfig,
  claims: ProviderClaims,
  now = Date.now(),
): Promise<{ user: User; linkedBy: LinkedBy }> {
  checkClaims(policy, claims);
  if (db.isTransaction) return provisionIn(db, policy, provider, claims, now);
  try {
    return await db.transaction().execute((trx) => provisionIn(trx, policy, provider, claims, now));
  } catch (error) {
    // Two first logins of one person raced; the loser finds the winner's identity on retry.
    if (!isUniqueViolation(error)) throw error;
    return db.transaction().execute((trx) => provisionIn(trx, policy, provider, claims, now));
  }
}

async function provisionIn(
  db: Db,
  policy: ProvisioningPolicy,
  provider: ProviderConfig,
  claims: ProviderClaims,
  now: number,
): Promise<{ user: User; linkedBy: LinkedBy }> {
  const email = str(claims.email, 254).trim();
  const verified = claims.email_verified === true;
  const profile: Profile = {
    ...(email ? { email, emailVerified: verified } : {}),
    ...(typeof claims.given_name === 'string' ? { first_name: str(claims.given_name, 150) } : {}),
    ...(typeof claims.family_name === 'string' ? { last_name: str(claims.family_name, 150) } : {}),
  };

  const identity = await findIdentityWithUser(db, provider.issuer, claims.sub);
  let user: User | undefined;
  let linkedBy: LinkedBy | undefined;
  if (identity) {
    user = identity.user;
    linkedBy = 'identity';
  } else {
    const external = policy.matchClaim === undefined ? undefined : claims[policy.matchClaim];
    if (typeof external === 'string' && external !== '' && external.length <= 255) {
      user = await findUserByExternalId(db, external);
      if (user && await hasOtherIdentityAt(db, user.id, provider.issuer, claims.sub)) {
        throw new OidcConnectError('IDENTITY_CONFLICT', `The account provisioned for you here is already linked to another ${provider.name} identity. Ask an administrator to unlink the old one.`);
      }
    }
    if (user) linkedBy = 'external_id';
    else if (policy.linkByEmail && verified && email) {
      const matches = await findVerifiedUsersByEmail(db, email, 2);
      // Two users with that verified email: linking either would be a guess.
      if (matches.length === 1) user = matches[0]!;
      // One person has one subject per issuer: another sub claiming this account is someone else,
      // or a recreated provider account that an admin must confirm by unlinking the old one. (The
      // same sub is a concurrent first login that got there first: the retry finds its identity.)
      if (user && await hasOtherIdentityAt(db, user.id, provider.issuer, claims.sub)) {
        throw new OidcConnectError('IDENTITY_CONFLICT', `The account here with this email is already linked to another ${provider.name} identity. If both are yours, ask an administrator to unlink the old one.`);
      }
    }
    linkedBy ??= user ? 'email' : 'created';
  }
  if (user && !user.is_active) {
    throw new OidcConnectError('USER_INACTIVE', 'This account has been deactivated. Contact an administrator.');
  }
  if (!user) {
    if (!policy.createUser) {
      throw new OidcConnectError('USER_CREATION_DISABLED', 'There is no account for you here yet, and new accounts are not created automatically. Ask an administrator to create one.');
    }
    const base = baseUsername(provider.usernameAlgo, { ...claims, sub: claims.sub });
    user = await createUserWithFreeUsername(db, usernameCandidates(base), profile, now);
    if (!user) throw new OidcConnectError('USER_CREATION_DISABLED', 'No free username could be found for this account.');
  }
  if (!identity) {
    await linkIdentity(db, provider.issuer, claims.sub, user.id, now);
  } else {
    await touchIdentity(db, identity.identityId, now);
  }
  if (Object.keys(profile).length > 0) user = await updateProfile(db, user, profile);
  const rules = policy.roleRules ?? [];
  // A SCIM user's groups are SCIM's; the claim would undo them at every sign-in.
  if (rules.length > 0 && Array.isArray(claims.groups) && user.source !== 'scim') {
    const names = claims.groups.filter((g): g is string => typeof g === 'string' && g !== '' && g.length <= 150).slice(0, MAX_CLAIM_GROUPS);
    await setUserGroups(db, user.id, [...(await ensureGroups(db, names)).values()]);
    if (await applyRoleRules(db, user, rules, now)) user = (await findUserById(db, user.id)) ?? user;
  }
  return { user, linkedBy };
}
