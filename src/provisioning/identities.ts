/**
 * The `identities` table: which local user a provider identity (issuer, sub) belongs to. Only this
 * module reads or writes it; everything else calls these functions.
 */
import { changing, type Change } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import { prepared } from '../db/prepared.ts';
import type { Identity, User } from '../db/schema.ts';

export async function findIdentity(db: Db, issuer: string, subject: string): Promise<Pick<Identity, 'id' | 'user_id'> | undefined> {
  const [identity] = await identityOf(db, { issuer, subject });
  return identity;
}

/** Every provider sign-in runs it: compiled once (see src/db/prepared.ts). */
const identityOf = prepared('identities.find', ['issuer', 'subject'], (db, p) => db.selectFrom('identities').select(['id', 'user_id']).where('issuer', '=', p('issuer')).where('subject', '=', p('subject')));

/**
 * The identity (issuer, sub) and the local user it is linked to, whether or not that user is active:
 * one indexed join, compiled once, which every provider sign-in runs (it was two reads).
 */
export async function findIdentityWithUser(db: Db, issuer: string, subject: string): Promise<{ identityId: number; user: User } | undefined> {
  const [row] = await identityWithUser(db, { issuer, subject });
  if (!row) return undefined;
  const { identity_id: identityId, ...user } = row;
  return { identityId, user };
}

const identityWithUser = prepared('identities.withUser', ['issuer', 'subject'], (db, p) => db
  .selectFrom('identities')
  .innerJoin('users', 'users.id', 'identities.user_id')
  .selectAll('users')
  .select('identities.id as identity_id')
  .where('identities.issuer', '=', p('issuer'))
  .where('identities.subject', '=', p('subject')));

/** The local user id linked to (issuer, sub), whether or not that user is active. */
export async function findIdentityUserId(db: Db, issuer: string, subject: string): Promise<number | undefined> {
  return (await findIdentity(db, issuer, subject))?.user_id;
}

/**
 * The active local user linked to (issuer, sub). Every bearer-token request runs this, so it is one
 * indexed join, compiled once, driven by the identity; the user's columns are read in the same query.
 */
export async function findActiveUserByIdentity(db: Db, issuer: string, subject: string): Promise<User | undefined> {
  const [user] = await userByIdentity(db, { issuer, subject });
  return user && user.is_active ? user : undefined;
}

const userByIdentity = prepared('identities.activeUser', ['issuer', 'subject'], (db, p) => db
  .selectFrom('identities')
  .innerJoin('users', 'users.id', 'identities.user_id')
  .selectAll('users')
  .where('identities.issuer', '=', p('issuer'))
  .where('identities.subject', '=', p('subject')));

/** Whether the user has an identity at `issuer` with another subject than `subject` (uses identities_user_id). */
export async function hasOtherIdentityAt(db: Db, userId: number, issuer: string, subject: string): Promise<boolean> {
  const row = await db.selectFrom('identities').select('id')
    .where('user_id', '=', userId).where('issuer', '=', issuer).where('subject', '!=', subject).executeTakeFirst();
  return row !== undefined;
}

export async function linkIdentity(db: Db, issuer: string, subject: string, userId: number, now = Date.now()): Promise<void> {
  await db.insertInto('identities').values({ issuer, subject, user_id: userId, created: now, last_login: now }).execute();
}

export async function touchIdentity(db: Db, id: number, now = Date.now()): Promise<void> {
  await stampIdentity(db, { lastLogin: now, id });
}

const stampIdentity = prepared('identities.stampLogin', ['lastLogin', 'id'], (db, p) => db.updateTable('identities').set({ last_login: p('lastLogin') }).where('id', '=', p('id')));

/** A user's identities, most recently used first. */
export async function identitiesOf(db: Db, userId: number): Promise<Pick<Identity, 'id' | 'issuer' | 'subject' | 'created' | 'last_login'>[]> {
  return db
    .selectFrom('identities')
    .select(['id', 'issuer', 'subject', 'created', 'last_login'])
    .where('user_id', '=', userId)
    .orderBy('last_login', 'desc')
    .execute();
}

/**
 * Which of `userIds` have at least one provider identity (one indexed read, identities_user_id).
 *
 * @example
 *   const signsInThroughProvider = await usersWithIdentities(db, [3, 7]); // Set { 7 }
 */
export async function usersWithIdentities(db: Db, userIds: readonly number[]): Promise<Set<number>> {
  if (userIds.length === 0) return new Set();
  const rows = await db.selectFrom('identities').select('user_id').distinct().where('user_id', 'in', userIds).execute();
  return new Set(rows.map((r) => r.user_id));
}

/**
 * Removes identity `id` when it belongs to `userId`; returns its issuer, or undefined when it was
 * not linked (any more). Works inside `db.transaction()`. Announced as a change to the user
 * (src/db/change-feed.ts): the access tokens of that identity, cached as the user's, stop working.
 */
export async function unlinkIdentity(db: Db, userId: number, id: number): Promise<string | undefined> {
  const row = await changing(
    db,
    (db) => db.deleteFrom('identities').where('id', '=', id).where('user_id', '=', userId).returning('issuer').executeTakeFirst(),
    (row): Change[] => (row ? [{ kind: 'user', id: userId }] : []),
  );
  return row?.issuer;
}
