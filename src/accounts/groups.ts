import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';

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
