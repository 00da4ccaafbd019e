import { announce, type Change } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { ImportPlan, ImportTarget, ImportTargets } from './django-import.ts';
import { ensureGroups, groupsOfUsers, setUserGroups } from './groups.ts';

export interface TargetKeys {
  djangoIds: number[];
  usernames: string[];
  emailKeys: string[];
}

/**
 * Which of these users sign in through a provider. The identities table belongs to provisioning/,
 * which imports this folder: the caller passes its reader in (usersWithIdentities).
 */
export type IdentityHolders = (db: Db, userIds: readonly number[]) => Promise<Set<number>>;

/** Every user here that one batch of Django users could land on, in four indexed reads. */
export async function findImportTargets(db: Db, keys: TargetKeys, identityHolders: IdentityHolders): Promise<ImportTargets> {
  const mapped = keys.djangoIds.length === 0 ? [] : await db.selectFrom('django_users').select(['django_id', 'user_id'])
    .where('django_id', 'in', keys.djangoIds).execute();
  const users = await db.selectFrom('users').selectAll()
    .where((eb) => eb.or([
      ...(mapped.length > 0 ? [eb('id', 'in', mapped.map((m) => m.user_id))] : []),
      ...(keys.usernames.length > 0 ? [eb('username', 'in', keys.usernames)] : []),
      ...(keys.emailKeys.length > 0 ? [eb('email_key', 'in', keys.emailKeys)] : []),
    ]))
    .execute();
  const ids = users.map((u) => u.id);
  const djangoIds = new Map((ids.length === 0 ? [] : await db.selectFrom('django_users').select(['django_id', 'user_id'])
    .where('user_id', 'in', ids).execute()).map((m) => [m.user_id, m.django_id]));
  const groups = await groupsOfUsers(db, ids);
  const withIdentity = await identityHolders(db, ids);

  const targets: ImportTargets = { byDjangoId: new Map(), byUsername: new Map(), byEmail: new Map() };
  for (const user of users) {
    const target: ImportTarget = { ...user, djangoId: djangoIds.get(user.id) ?? null, groups: groups.get(user.id) ?? [], hasIdentity: withIdentity.has(user.id) };
    if (target.djangoId !== null) targets.byDjangoId.set(target.djangoId, target);
    targets.byUsername.set(user.username, target);
    if (user.email_key) targets.byEmail.set(user.email_key, [...(targets.byEmail.get(user.email_key) ?? []), target]);
  }
  return targets;
}

/** Writes one batch of plans; call it inside a transaction. New users go in with one statement. */
export async function applyImportPlans(db: Db, plans: readonly ImportPlan[], now = Date.now()): Promise<void> {
  const groupIds = await ensureGroups(db, plans.flatMap((p) => (p.action === 'create' || p.action === 'update' ? p.django.groups : [])));
  const ids = (names: string[]) => names.map((name) => groupIds.get(name)!);
  const creates = plans.filter((p) => p.action === 'create');
  const mappings: Array<{ django_id: number; user_id: number; imported: number }> = [];
  if (creates.length > 0) {
    const rows = await db.insertInto('users').values(creates.map((p) => p.values)).returning(['id', 'username']).execute();
    // Usernames are unique, so they pair the returned ids with the plans in any order.
    const idOf = new Map(rows.map((r) => [r.username, r.id]));
    const memberships = creates.flatMap((p) => ids(p.django.groups).map((group_id) => ({ user_id: idOf.get(p.values.username)!, group_id })));
    if (memberships.length > 0) await db.insertInto('user_groups').values(memberships).execute();
    for (const p of creates) mappings.push({ django_id: p.django.id, user_id: idOf.get(p.values.username)!, imported: now });
  }
  const changed: Change[] = [];
  for (const plan of plans) {
    if (plan.action !== 'update') continue;
    if (Object.keys(plan.set).length > 0) {
      await db.updateTable('users').set(plan.set).where('id', '=', plan.userId).execute();
      changed.push({ kind: 'user', id: plan.userId });
    }
    if (plan.groups) await setUserGroups(db, plan.userId, ids(plan.django.groups));
    if (plan.mapping) mappings.push({ django_id: plan.django.id, user_id: plan.userId, imported: now });
  }
  if (mappings.length > 0) await db.insertInto('django_users').values(mappings).execute();
  // Updated accounts (active, staff, superuser, password…): every instance's session cache drops them.
  await announce(db, changed);
}
