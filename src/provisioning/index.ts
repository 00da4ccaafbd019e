import { createUserWithFreeUsername, findUserById, findUsersByEmail, updateProfile, type Profile } from '../accounts/users.ts';
import type { Config, ProviderConfig } from '../config/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { findIdentity, linkIdentity, touchIdentity } from './identities.ts';
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

export type ProvisioningPolicy = Config['provisioning'];

export type LinkedBy = 'identity' | 'email' | 'created';

const str = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');

/** The claims checks: a refused user gets a 403 before anything is written. */
export function checkClaims(policy: ProvisioningPolicy, claims: ProviderClaims): void {
  if (policy.allowedEmailDomains.length > 0) {
    const email = str(claims.email, 254).toLowerCase();
    const domain = email.includes('@') ? email.slice(email.lastIndexOf('@') + 1) : '';
    if (claims.email_verified !== true || !policy.allowedEmailDomains.includes(domain)) {
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
 * (issuer, sub); a local user with the same email, only when the provider vouches for it
 * (email_verified); a new user. Profile fields follow the claims at every login.
 */
export async function provisionUser(
  db: Db,
  policy: ProvisioningPolicy,
  provider: ProviderConfig,
  claims: ProviderClaims,
  now = Date.now(),
): Promise<{ user: User; linkedBy: LinkedBy }> {
  checkClaims(policy, claims);
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
  const email = str(claims.email, 254);
  const profile: Profile = {
    ...(email ? { email } : {}),
    ...(typeof claims.given_name === 'string' ? { first_name: str(claims.given_name, 150) } : {}),
    ...(typeof claims.family_name === 'string' ? { last_name: str(claims.family_name, 150) } : {}),
  };

  const identity = await findIdentity(db, provider.issuer, claims.sub);
  let user: User | undefined;
  let linkedBy: LinkedBy;
  if (identity) {
    user = await findUserById(db, identity.user_id);
    if (!user) throw new Error(`identity ${identity.id} points to no user`); // the foreign key rules this out
    linkedBy = 'identity';
  } else {
    if (policy.linkByEmail && claims.email_verified === true && email) {
      const matches = await findUsersByEmail(db, email, 2);
      // Two local users with that email: linking either would be a guess.
      if (matches.length === 1) user = matches[0];
    }
    linkedBy = user ? 'email' : 'created';
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
    await touchIdentity(db, identity.id, now);
  }
  if (Object.keys(profile).length > 0) user = await updateProfile(db, user.id, profile);
  return { user, linkedBy };
}
