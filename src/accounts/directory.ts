/**
 * The user directory as a provisioning client (SCIM, src/scim/) sees it: users found by a condition
 * tree over an allow-list of fields, and users created, replaced and deleted by the directory.
 * Conditions become Kysely expressions here, with every value a bound parameter: no SQL is built
 * from strings, and a field outside `DirectoryField` can't be named.
 */
import { PostgresAdapter, sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { changing } from '../db/change-feed.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import type { Database, User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { normalizeEmail } from './email.ts';
import { checkUsername, userChanged } from './users.ts';

/** The fields a directory query may compare. Text fields compare without regard to ASCII case, except external_id. */
export type DirectoryField = 'id' | 'username' | 'external_id' | 'email' | 'active' | 'display_name' | 'nick_name'
  | 'first_name' | 'last_name' | 'modified' | 'created';

export type Comparison = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

export type DirectoryCondition =
  | { readonly op: 'and' | 'or'; readonly of: readonly DirectoryCondition[] }
  | { readonly op: 'not'; readonly of: DirectoryCondition }
  | { readonly op: Comparison; readonly field: DirectoryField; readonly value: string | number | boolean }
  | { readonly op: 'pr'; readonly field: DirectoryField }
  | { readonly op: 'all' | 'none' };

type Eb = ExpressionBuilder<Database, 'users'>;

const TEXT: Partial<Record<DirectoryField, 'username' | 'email' | 'display_name' | 'nick_name' | 'first_name' | 'last_name'>> = {
  username: 'username', email: 'email', display_name: 'display_name', nick_name: 'nick_name', first_name: 'first_name', last_name: 'last_name',
};
const NUMERIC: Partial<Record<DirectoryField, 'id' | 'modified' | 'date_joined' | 'is_active'>> = {
  id: 'id', modified: 'modified', created: 'date_joined', active: 'is_active',
};

/** LIKE's own characters, escaped with a backslash (the queries' `escape '\\'` clause names it). */
export const likeEscaped = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

function compare(eb: Eb, pg: boolean, condition: Extract<DirectoryCondition, { field: DirectoryField; value: unknown }>): Expression<SqlBool> {
  const { op, field, value } = condition;
  const text = TEXT[field];
  if (text !== undefined || field === 'external_id') {
    if (typeof value !== 'string') return eb.val(false).$castTo<SqlBool>();
    const exact = field === 'external_id';
    // userName eq: the index users_username_lower, whose key is lower(username) (collate "C" on PostgreSQL).
    const column = exact ? sql`${sql.ref(`users.${field}`)}` : pg ? sql`lower(${sql.ref(`users.${text}`)}) collate "C"` : sql`lower(${sql.ref(`users.${text}`)})`;
    const operand = exact ? sql`${value}` : pg ? sql`lower(${value}) collate "C"` : sql`lower(${value})`;
    if (field === 'email' && (op === 'eq' || op === 'ne')) return eb('email_key', op === 'eq' ? '=' : '<>', normalizeEmail(value));
    switch (op) {
      case 'eq': return sql<SqlBool>`${column} = ${operand}`;
      case 'ne': return sql<SqlBool>`${column} <> ${operand}`;
      case 'gt': return sql<SqlBool>`${column} > ${operand}`;
      case 'ge': return sql<SqlBool>`${column} >= ${operand}`;
      case 'lt': return sql<SqlBool>`${column} < ${operand}`;
      case 'le': return sql<SqlBool>`${column} <= ${operand}`;
      default: {
        const pattern = op === 'co' ? `%${likeEscaped(value)}%` : op === 'sw' ? `${likeEscaped(value)}%` : `%${likeEscaped(value)}`;
        const target = exact ? sql`${sql.ref(`users.${field}`)}` : sql`lower(${sql.ref(`users.${text}`)})`;
        return sql<SqlBool>`${target} like ${exact ? pattern : sql`lower(${pattern})`} escape '\\'`;
      }
    }
  }
  const numeric = NUMERIC[field]!;
  let number: number;
  if (field === 'active') {
    if (typeof value !== 'boolean') return eb.val(false).$castTo<SqlBool>();
    number = value ? 1 : 0;
  } else if (typeof value !== 'number' || !Number.isFinite(value)) {
    return eb.val(false).$castTo<SqlBool>();
  } else {
    number = value;
  }
  const operators = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;
  if (!(op in operators)) return eb.val(false).$castTo<SqlBool>();
  return eb(numeric, operators[op as keyof typeof operators], number);
}

function expression(eb: Eb, pg: boolean, condition: DirectoryCondition): Expression<SqlBool> {
  switch (condition.op) {
    case 'and': return eb.and(condition.of.map((c) => expression(eb, pg, c)));
    case 'or': return eb.or(condition.of.map((c) => expression(eb, pg, c)));
    case 'not': return eb.not(expression(eb, pg, condition.of));
    case 'all': return eb.val(true).$castTo<SqlBool>();
    case 'none': return eb.val(false).$castTo<SqlBool>();
    case 'pr': {
      const field = condition.field;
      if (field === 'external_id') return eb('external_id', 'is not', null);
      const text = TEXT[field];
      return text ? eb(text, '<>', '') : eb.val(true).$castTo<SqlBool>();
    }
    default: return compare(eb, pg, condition);
  }
}

const isPostgres = (db: Db): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

/**
 * One page of the users (not deleted) that match, by id, and how many match in all.
 *
 * @example
 * await findDirectoryUsers(db, { op: 'eq', field: 'username', value: 'alice' }, { offset: 0, limit: 100 });
 */
export async function findDirectoryUsers(db: Db, condition: DirectoryCondition, page: { offset: number; limit: number }): Promise<{ users: User[]; total: number }> {
  const pg = isPostgres(db);
  const base = db.selectFrom('users').where('deleted', 'is', null).where((eb) => expression(eb, pg, condition));
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const users = page.limit === 0 ? [] : await base.selectAll().orderBy('id').offset(page.offset).limit(page.limit).execute();
  return { users, total: Number(total) };
}

/** A user not deleted, by id. */
export async function findDirectoryUser(db: Db, id: number): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).where('deleted', 'is', null).executeTakeFirst();
}

/** The SCIM user (not deleted) with this externalId. */
export async function findUserByExternalId(db: Db, externalId: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('external_id', '=', externalId).where('deleted', 'is', null).executeTakeFirst();
}

/** What a directory sets on a user. The email is verified: the directory vouches for it. */
export interface DirectoryProfile {
  username: string;
  externalId: string | null;
  email: string;
  firstName: string;
  lastName: string;
  displayName: string;
  nickName: string;
  active: boolean;
}

/** USERNAME_TAKEN when another user holds this username (in any case) or externalId. */
async function checkFree(db: Db, profile: DirectoryProfile, exceptId?: number): Promise<void> {
  const pg = isPostgres(db);
  const key = pg ? sql`lower(username) collate "C"` : sql`lower(username)`;
  const operand = pg ? sql`lower(${profile.username}) collate "C"` : sql`lower(${profile.username})`;
  const taken = await db.selectFrom('users').select(['id', 'external_id'])
    .where((eb) => eb.or([
      sql<SqlBool>`${key} = ${operand}`,
      ...(profile.externalId !== null ? [eb('external_id', '=', profile.externalId)] : []),
    ]))
    .$if(exceptId !== undefined, (q) => q.where('id', '<>', exceptId!))
    .limit(1).executeTakeFirst();
  if (taken) {
    const what = profile.externalId !== null && taken.external_id === profile.externalId ? `the externalId "${profile.externalId}"` : `the userName "${profile.username}"`;
    throw new OidcConnectError('USERNAME_TAKEN', `Another user already has ${what}.`);
  }
}

function row(profile: DirectoryProfile) {
  return {
    username: profile.username,
    external_id: profile.externalId,
    email: profile.email,
    email_key: normalizeEmail(profile.email),
    email_verified: profile.email ? 1 as const : 0 as const,
    first_name: profile.firstName,
    last_name: profile.lastName,
    display_name: profile.displayName,
    nick_name: profile.nickName,
  };
}

/**
 * A user the directory provisions: no password (they sign in through the provider), source 'scim'.
 * Throws USERNAME_TAKEN when the username or externalId is someone else's.
 */
export async function createDirectoryUser(db: Db, profile: DirectoryProfile, now = Date.now()): Promise<User> {
  checkUsername(profile.username);
  await checkFree(db, profile);
  try {
    return await db.insertInto('users').values({
      ...row(profile), password: null, is_active: profile.active ? 1 : 0, is_staff: 0, is_superuser: 0,
      last_login: null, date_joined: now, source: 'scim', modified: now,
    }).returningAll().executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error)) throw new OidcConnectError('USERNAME_TAKEN', `Another user already has the userName "${profile.username}" or its externalId.`, { cause: error });
    throw error;
  }
}

/**
 * Replaces what the directory manages of a user (not the password, flags or groups). Works inside
 * `db.transaction()`; announced as a change to the user. Deactivation does not end sessions here:
 * the caller ends them in the same transaction (src/scim/).
 */
export async function replaceDirectoryUser(db: Db, user: User, profile: DirectoryProfile, now = Date.now()): Promise<User> {
  checkUsername(profile.username);
  await checkFree(db, profile, user.id);
  const values = row(profile);
  // The same address stays verified; a new one is verified because the directory vouches for it.
  try {
    return await changing(db, (db) => db.updateTable('users')
      .set({ ...values, is_active: profile.active ? 1 : 0, modified: now })
      .where('id', '=', user.id).returningAll().executeTakeFirstOrThrow(), userChanged(user.id));
  } catch (error) {
    if (isUniqueViolation(error)) throw new OidcConnectError('USERNAME_TAKEN', `Another user already has the userName "${profile.username}" or its externalId.`, { cause: error });
    throw error;
  }
}

/**
 * A directory DELETE: the user is deactivated and marked deleted, and stays for the audit trail and so
 * that their provider identity keeps pointing at an account that can't sign in. Works inside
 * `db.transaction()`; announced.
 */
export async function markUserDeleted(db: Db, userId: number, now = Date.now()): Promise<void> {
  await changing(db, (db) => db.updateTable('users').set({ is_active: 0, deleted: now, modified: now }).where('id', '=', userId).execute(), userChanged(userId));
}
