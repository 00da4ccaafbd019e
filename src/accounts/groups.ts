import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import type { Database, Group, User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { likeEscaped } from './directory.ts';

/**
 * Group names per user (tables groups and user_groups). Django's groups arrive through
 * import-django; they are there for the admin and for group checks on local users, the way
 * OIDC_REQUIRED_GROUPS checks a provider's `groups` claim.
 */

/** The ids of these group names, creating the missing ones. */
export async function ensureGroups(db: Db, names: Iterable<string>): Promise<Map<string, number>> {
  const wanted = [...new Set(names)];
  if (wanted.length === 0) return new Map();
  await db.insertInto('groups').values(wanted.map((name) => ({ name })))
    .onConflict((oc) => oc.column('name').doNothing()).execute();
  const rows = await db.selectFrom('groups').select(['id', 'name']).where('name', 'in', wanted).execute();
  return new Map(rows.map((r) => [r.name, r.id]));
}

/** Group names of each user, sorted. */
export async function groupsOfUsers(db: Db, userIds: readonly number[]): Promise<Map<number, string[]>> {
  const groups = new Map<number, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return groups;
  const rows = await db.selectFrom('user_groups').innerJoin('groups', 'groups.id', 'user_groups.group_id')
    .select(['user_groups.user_id', 'groups.name']).where('user_groups.user_id', 'in', userIds)
    .orderBy('groups.name').execute();
  for (const row of rows) groups.get(row.user_id)?.push(row.name);
  return groups;
}

export async function userGroups(db: Db, userId: number): Promise<string[]> {
  return (await groupsOfUsers(db, [userId])).get(userId) ?? [];
}

/**
 * LOCAL_REQUIRED_GROUPS for the username/password form: with groups required, only their members
 * sign in. Superusers always may, as Django grants them every permission: the operator made by
 * createsuperuser belongs to no group, and must not be locked out of the admin.
 */
export async function mayUseLocalLogin(db: Db, required: readonly string[], user: Pick<User, 'id' | 'is_superuser'>): Promise<boolean> {
  if (required.length === 0 || user.is_superuser === 1) return true;
  // One range of the user_groups primary key (user_id, group_id), at most one row.
  const member = await db.selectFrom('user_groups').innerJoin('groups', 'groups.id', 'user_groups.group_id')
    .select('user_groups.user_id').where('user_groups.user_id', '=', user.id).where('groups.name', 'in', required)
    .limit(1).executeTakeFirst();
  return member !== undefined;
}

/** Makes the user's memberships exactly `groupIds`. */
export async function setUserGroups(db: Db, userId: number, groupIds: readonly number[]): Promise<void> {
  await db.deleteFrom('user_groups').where('user_id', '=', userId)
    .$if(groupIds.length > 0, (q) => q.where('group_id', 'not in', groupIds)).execute();
  if (groupIds.length === 0) return;
  await db.insertInto('user_groups').values(groupIds.map((group_id) => ({ user_id: userId, group_id })))
    .onConflict((oc) => oc.columns(['user_id', 'group_id']).doNothing()).execute();
}

/*
 * Groups as a directory (SCIM) manages them. A change of memberships changes the roles ROLE_RULES
 * gives: callers recompute them for the users concerned (applyRoleRules in ./roles.ts).
 */

/** A group by id. */
export async function findGroup(db: Db, id: number): Promise<Group | undefined> {
  return db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Which groups a condition on name, externalId or id selects; the fields are an allow-list. */
export type GroupCondition =
  | { readonly op: 'and' | 'or'; readonly of: readonly GroupCondition[] }
  | { readonly op: 'not'; readonly of: GroupCondition }
  | { readonly op: 'eq' | 'ne' | 'co' | 'sw' | 'ew'; readonly field: 'name' | 'external_id' | 'id'; readonly value: string | number }
  | { readonly op: 'pr'; readonly field: 'name' | 'external_id' | 'id' }
  | { readonly op: 'all' | 'none' };

function groupExpression(eb: ExpressionBuilder<Database, 'groups'>, condition: GroupCondition): Expression<SqlBool> {
  switch (condition.op) {
    case 'and': return eb.and(condition.of.map((c) => groupExpression(eb, c)));
    case 'or': return eb.or(condition.of.map((c) => groupExpression(eb, c)));
    case 'not': return eb.not(groupExpression(eb, condition.of));
    case 'all': return eb.val(true).$castTo<SqlBool>();
    case 'none': return eb.val(false).$castTo<SqlBool>();
    case 'pr': return condition.field === 'external_id' ? eb('external_id', 'is not', null) : eb.val(true).$castTo<SqlBool>();
    default: {
      const { op, field, value } = condition;
      if (field === 'id') {
        if (typeof value !== 'number' || (op !== 'eq' && op !== 'ne')) return eb.val(false).$castTo<SqlBool>();
        return eb('id', op === 'eq' ? '=' : '<>', value);
      }
      if (typeof value !== 'string') return eb.val(false).$castTo<SqlBool>();
      // displayName is unique as it is written (Entra's rule; the column's unique index), so compared as written.
      if (op === 'eq') return eb(field, '=', value);
      if (op === 'ne') return eb.or([eb(field, '<>', value), eb(field, 'is', null)]);
      const pattern = op === 'co' ? `%${likeEscaped(value)}%` : op === 'sw' ? `${likeEscaped(value)}%` : `%${likeEscaped(value)}`;
      return sql<SqlBool>`${sql.ref(`groups.${field}`)} like ${pattern} escape '\\'`;
    }
  }
}

/** One page of the groups that match, by id, and how many match in all. */
export async function findGroups(db: Db, condition: GroupCondition, page: { offset: number; limit: number }): Promise<{ groups: Group[]; total: number }> {
  const base = db.selectFrom('groups').where((eb) => groupExpression(eb, condition));
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const groups = page.limit === 0 ? [] : await base.selectAll().orderBy('id').offset(page.offset).limit(page.limit).execute();
  return { groups, total: Number(total) };
}

const nameTaken = (name: string, cause?: unknown) => new OidcConnectError('NAME_TAKEN', `Another group is already named "${name}".`, cause === undefined ? undefined : { cause });

/** A new group; NAME_TAKEN when the name is another group's. */
export async function createGroup(db: Db, group: { name: string; externalId: string | null }, now = Date.now()): Promise<Group> {
  if (await db.selectFrom('groups').select('id').where('name', '=', group.name).executeTakeFirst()) throw nameTaken(group.name);
  try {
    return await db.insertInto('groups').values({ name: group.name, external_id: group.externalId, created: now, modified: now })
      .returningAll().executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(group.name, error);
    throw error;
  }
}

/** Renames a group or changes its externalId; NAME_TAKEN when the name is another group's. */
export async function updateGroup(db: Db, id: number, group: { name: string; externalId: string | null }, now = Date.now()): Promise<Group> {
  if (await db.selectFrom('groups').select('id').where('name', '=', group.name).where('id', '<>', id).executeTakeFirst()) throw nameTaken(group.name);
  try {
    return await db.updateTable('groups').set({ name: group.name, external_id: group.externalId, modified: now })
      .where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(group.name, error);
    throw error;
  }
}

/** Marks a group changed (its members changed). */
export async function touchGroup(db: Db, id: number, now = Date.now()): Promise<void> {
  await db.updateTable('groups').set({ modified: now }).where('id', '=', id).execute();
}

/** Deletes a group and its memberships; returns the ids of its members. */
export async function deleteGroup(db: Db, id: number): Promise<number[]> {
  const members = await groupMemberIds(db, id);
  await db.deleteFrom('user_groups').where('group_id', '=', id).execute();
  await db.deleteFrom('groups').where('id', '=', id).execute();
  return members;
}

/** The ids of a group's members, by id. */
export async function groupMemberIds(db: Db, groupId: number): Promise<number[]> {
  const rows = await db.selectFrom('user_groups').select('user_id').where('group_id', '=', groupId).orderBy('user_id').execute();
  return rows.map((r) => r.user_id);
}

/** The members of each group (id and username), for SCIM's members attribute. */
export async function groupMembers(db: Db, groupId: number): Promise<{ id: number; username: string }[]> {
  return db.selectFrom('user_groups').innerJoin('users', 'users.id', 'user_groups.user_id')
    .select(['users.id', 'users.username']).where('user_groups.group_id', '=', groupId).where('users.deleted', 'is', null)
    .orderBy('users.id').execute();
}

/** Adds members; returns the ids that were not members before. */
export async function addGroupMembers(db: Db, groupId: number, userIds: readonly number[]): Promise<number[]> {
  const wanted = [...new Set(userIds)];
  if (wanted.length === 0) return [];
  const existing = new Set((await db.selectFrom('user_groups').select('user_id').where('group_id', '=', groupId)
    .where('user_id', 'in', wanted).execute()).map((r) => r.user_id));
  const added = wanted.filter((id) => !existing.has(id));
  if (added.length > 0) await db.insertInto('user_groups').values(added.map((user_id) => ({ user_id, group_id: groupId }))).execute();
  return added;
}

/** Removes members (all of them when `userIds` is 'all'); returns the ids removed. */
export async function removeGroupMembers(db: Db, groupId: number, userIds: readonly number[] | 'all'): Promise<number[]> {
  if (userIds !== 'all' && userIds.length === 0) return [];
  const rows = await db.deleteFrom('user_groups').where('group_id', '=', groupId)
    .$if(userIds !== 'all', (q) => q.where('user_id', 'in', userIds as number[])).returning('user_id').execute();
  return rows.map((r) => r.user_id);
}

/** The groups (id and name) of each user, by name. */
export async function groupRefsOfUser(db: Db, userId: number): Promise<{ id: number; name: string }[]> {
  return db.selectFrom('user_groups').innerJoin('groups', 'groups.id', 'user_groups.group_id')
    .select(['groups.id', 'groups.name']).where('user_groups.user_id', '=', userId).orderBy('groups.name').execute();
}

/** Which of these ids are users not deleted. */
export async function existingUserIds(db: Db, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('users').select('id').where('id', 'in', [...new Set(ids)]).where('deleted', 'is', null).execute();
  return new Set(rows.map((r) => r.id));
}
