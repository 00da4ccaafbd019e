import type { Updateable } from 'kysely';
import { changing, type Change } from '../db/change-feed.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import { prepared } from '../db/prepared.ts';
import type { NewUser, User, UsersTable } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { normalizeEmail } from './email.ts';
import { checkNewPassword, refuseBlankPassword } from './password-validation.ts';
import { hashPassword } from './passwords.ts';

/** An account an operator creates (createsuperuser, the admin, the library): its email counts as verified. */
export interface NewAccount {
  username: string;
  email?: string;
  password?: string | null;
  firstName?: string;
  lastName?: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
  /**
   * Skip Django's password validators (src/accounts/password-validation.ts), as Django's createsuperuser
   * does when its operator answers "Bypass password validation and create user anyway?" with y. A blank
   * password is refused all the same.
   */
  bypassPasswordValidation?: boolean;
}

const USERNAME = /^[\w.@+-]{1,150}$/;

/** Django's username rule: letters, digits and @ . + - _, at most 150 characters. */
export function checkUsername(username: string): void {
  if (!USERNAME.test(username)) {
    throw new OidcConnectError('BAD_REQUEST', 'A username has 1 to 150 characters: letters, digits and @ . + - _ only.');
  }
}

/** Longest username the login form looks up (Django's max_length). */
const MAX_LOGIN_USERNAME = 150;

/**
 * The username the login form looks up for what was typed: without the spaces around it, as Django's
 * form strips them; '' when no account can have it (empty, or longer than 150).
 *
 * @example
 *   typedUsername(' alice ') // 'alice'
 */
export function typedUsername(typed: string): string {
  const username = typed.trim();
  return username.length > MAX_LOGIN_USERNAME ? '' : username;
}

/** Whether anyone can sign in to this username through the login form (see typedUsername). */
export function loginFormReaches(username: string): boolean {
  return username !== '' && typedUsername(username) === username;
}

export async function findUserByUsername(db: Db, username: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function findUserById(db: Db, id: number): Promise<User | undefined> {
  const [user] = await userById(db, { id });
  return user;
}

/** Compiled once (see src/db/prepared.ts). */
const userById = prepared('users.byId', ['id'], (db, p) => db.selectFrom('users').selectAll().where('id', '=', p('id')));

export async function createUser(db: Db, account: NewAccount, now = Date.now()): Promise<User> {
  checkUsername(account.username);
  if (account.password != null && account.bypassPasswordValidation) refuseBlankPassword(account.password);
  else if (account.password != null) {
    checkNewPassword(account.password, { username: account.username, email: account.email, first_name: account.firstName, last_name: account.lastName });
  }
  const row: NewUser = {
    username: account.username,
    email: account.email ?? '',
    email_key: normalizeEmail(account.email ?? ''),
    email_verified: account.email ? 1 : 0,
    first_name: account.firstName ?? '',
    last_name: account.lastName ?? '',
    password: account.password == null ? null : await hashPassword(account.password),
    is_active: 1,
    is_staff: account.isStaff ? 1 : 0,
    is_superuser: account.isSuperuser ? 1 : 0,
    last_login: null,
    date_joined: now,
    modified: now,
  };
  try {
    return await db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new OidcConnectError('USERNAME_TAKEN', `The username "${account.username}" is already taken.`, { cause: error });
    }
    throw error;
  }
}

/**
 * Every write to an existing user that a cached session or token depends on is announced
 * (src/db/change-feed.ts), so each instance's caches drop that user's entries and read the user anew.
 */
export const userChanged = (userId: number) => (): Change[] => [{ kind: 'user', id: userId }];

/**
 * Sets a new local password after Django's validators accept it for this user (PASSWORD_INVALID
 * otherwise), and announces the change.
 *
 * @example
 *   await setPassword(db, user.id, 'a long and unusual phrase');
 */
export async function setPassword(db: Db, userId: number, password: string): Promise<void> {
  const user = await findUserById(db, userId);
  if (!user) throw new OidcConnectError('USER_NOT_FOUND', `No user has the id ${userId}.`);
  checkNewPassword(password, user);
  const hash = await hashPassword(password);
  await changing(db, (db) => db.updateTable('users').set({ password: hash }).where('id', '=', userId).execute(), userChanged(userId));
}

/** What a provider's claims may set: profile fields, and whether the provider verified the email. */
export type Profile = Partial<Pick<User, 'email' | 'first_name' | 'last_name'>> & { emailVerified?: boolean };

/**
 * Users whose email is verified and equal to `email` by its comparison key (users_email_key index);
 * at most `limit` of them. Only these may be linked to a provider identity by email.
 */
export async function findVerifiedUsersByEmail(db: Db, email: string, limit: number): Promise<User[]> {
  return db.selectFrom('users').selectAll()
    .where('email_key', '=', normalizeEmail(email)).where('email_verified', '=', 1).limit(limit).execute();
}

/**
 * Sets what a provider's login says. A changed address is as verified as the provider says; the
 * same address (by its key) stays verified once an operator or a provider verified it.
 */
export async function updateProfile(db: Db, user: User, profile: Profile): Promise<User> {
  const set: Updateable<UsersTable> = {
    ...(profile.first_name !== undefined ? { first_name: profile.first_name } : {}),
    ...(profile.last_name !== undefined ? { last_name: profile.last_name } : {}),
  };
  if (profile.email !== undefined) {
    const key = normalizeEmail(profile.email);
    const stillVerified = key === user.email_key && user.email_verified === 1;
    Object.assign(set, { email: profile.email, email_key: key, email_verified: profile.emailVerified || stillVerified ? 1 : 0 });
  }
  // Most logins change nothing: then there is no write, and no instance drops its cached copy of the user.
  const fields = Object.keys(set) as (keyof UsersTable & keyof User)[];
  if (fields.every((field) => set[field] === user[field])) return user;
  return changing(
    db,
    (db) => db.updateTable('users').set({ ...set, modified: Date.now() }).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow(),
    (updated) => (fields.some((field) => updated[field] !== user[field]) ? userChanged(user.id)() : []),
  );
}

/**
 * A user without a password (they sign in through a provider) under the first free username of
 * `candidates`, trying at most 1000; undefined when none is free. Two creates racing for one name
 * end in a unique violation, which the caller may retry.
 */
export async function createUserWithFreeUsername(db: Db, candidates: Iterable<string>, profile: Profile, now = Date.now()): Promise<User | undefined> {
  let tries = 0;
  for (const username of candidates) {
    if (++tries > 1000) return undefined;
    const taken = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
    if (taken) continue;
    return db.insertInto('users').values({
      username, email: profile.email ?? '', email_key: normalizeEmail(profile.email ?? ''),
      email_verified: profile.email && profile.emailVerified ? 1 : 0, first_name: profile.first_name ?? '', last_name: profile.last_name ?? '',
      password: null, is_active: 1, is_staff: 0, is_superuser: 0, last_login: null, date_joined: now, source: 'provider', modified: now,
    }).returningAll().executeTakeFirstOrThrow();
  }
  return undefined;
}

/**
 * Stamps a successful sign-in (Django's last_login). Not announced (src/db/change-feed.ts): no cached
 * session or token depends on it, and announcing it dropped every cached session of the user, on
 * every instance, at each of their sign-ins. So `request.user.last_login` of a cached session may
 * predate a later sign-in of the same user elsewhere; the admin pages read it from the database.
 */
export async function recordLogin(db: Db, userId: number, now = Date.now()): Promise<void> {
  await stampLogin(db, { lastLogin: now, id: userId });
}

/** Every sign-in runs it: compiled once (see src/db/prepared.ts). */
const stampLogin = prepared('users.stampLogin', ['lastLogin', 'id'], (db, p) => db.updateTable('users').set({ last_login: p('lastLogin') }).where('id', '=', p('id')));

/** Works inside `db.transaction()`, so a deactivation can end the sessions in the same step. */
export async function setActive(db: Db, userId: number, active: boolean): Promise<void> {
  await changing(db, (db) => db.updateTable('users').set({ is_active: active ? 1 : 0 }).where('id', '=', userId).execute(), userChanged(userId));
}

export async function setStaff(db: Db, userId: number, staff: boolean): Promise<void> {
  await changing(db, (db) => db.updateTable('users').set({ is_staff: staff ? 1 : 0 }).where('id', '=', userId).execute(), userChanged(userId));
}

/** Usernames by id (primary-key reads), for lists that show who a row belongs to. */
export async function usernamesByIds(db: Db, ids: Iterable<number>): Promise<Map<number, string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db.selectFrom('users').select(['id', 'username']).where('id', 'in', unique).execute();
  return new Map(rows.map((r) => [r.id, r.username]));
}
