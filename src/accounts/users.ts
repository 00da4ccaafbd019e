import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import type { NewUser, User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { checkNewPassword, hashPassword } from './passwords.ts';

export interface NewAccount {
  username: string;
  email?: string;
  password?: string | null;
  firstName?: string;
  lastName?: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
}

const USERNAME = /^[\w.@+-]{1,150}$/;

/** Django's username rule: letters, digits and @ . + - _, at most 150 characters. */
export function checkUsername(username: string): void {
  if (!USERNAME.test(username)) {
    throw new OidcConnectError('BAD_REQUEST', 'A username has 1 to 150 characters: letters, digits and @ . + - _ only.');
  }
}

export async function findUserByUsername(db: Db, username: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function findUserById(db: Db, id: number): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function createUser(db: Db, account: NewAccount, now = Date.now()): Promise<User> {
  checkUsername(account.username);
  if (account.password != null) checkNewPassword(account.password);
  const row: NewUser = {
    username: account.username,
    email: account.email ?? '',
    first_name: account.firstName ?? '',
    last_name: account.lastName ?? '',
    password: account.password == null ? null : await hashPassword(account.password),
    is_active: 1,
    is_staff: account.isStaff ? 1 : 0,
    is_superuser: account.isSuperuser ? 1 : 0,
    last_login: null,
    date_joined: now,
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

export async function setPassword(db: Db, userId: number, password: string): Promise<void> {
  checkNewPassword(password);
  await db.updateTable('users').set({ password: await hashPassword(password) }).where('id', '=', userId).execute();
}
