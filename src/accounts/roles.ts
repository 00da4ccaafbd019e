/**
 * Groups to roles (ROLE_RULES): a group name gives `staff`, `superuser` and app roles. The same
 * rules run whether the groups came from SCIM Groups or from the ID token's groups claim, so a user
 * gets the same roles either way.
 *
 * The roles a user's groups give are stored with the user (users.rule_roles) whenever the groups
 * change, and the write is announced like every change to a user: each instance's cached sessions
 * and bearer tokens of that user are dropped, and the next request reads the new roles. `staff` and
 * `superuser` also set Django's flags (is_staff, is_superuser), which the admin checks; a flag that
 * a rule set is the rules' from then on: it goes when no rule gives it any more, and the admin may
 * not change it by hand while a rule gives it.
 */
import type { RoleRule } from '../config/index.ts';
import { changing } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { userGroups } from './groups.ts';
import { userChanged } from './users.ts';

export type { RoleRule } from '../config/index.ts';

/** The roles that set Django's flags. */
export const FLAG_ROLES = ['staff', 'superuser'] as const;

/** A user as requests see them (`request.user`): the row, and their roles. */
export type SignedInUser = User & {
  /** Sorted: the roles ROLE_RULES gives their groups, plus `staff` and `superuser` when the flags are set. */
  readonly roles: readonly string[];
};

const indexes = new WeakMap<readonly RoleRule[], Map<string, readonly string[]>>();

function index(rules: readonly RoleRule[]): Map<string, readonly string[]> {
  let map = indexes.get(rules);
  if (map === undefined) {
    map = new Map();
    for (const rule of rules) map.set(rule.group, [...(map.get(rule.group) ?? []), ...rule.roles]);
    indexes.set(rules, map);
  }
  return map;
}

/**
 * The roles `groups` give under `rules`, sorted, each once.
 *
 * @example
 * rolesFromGroups([{ group: 'Support', roles: ['staff', 'support'] }], ['Support', 'Everyone']) // ['staff', 'support']
 */
export function rolesFromGroups(rules: readonly RoleRule[], groups: Iterable<string>): string[] {
  const map = index(rules);
  const roles = new Set<string>();
  for (const group of groups) for (const role of map.get(group) ?? []) roles.add(role);
  return [...roles].sort();
}

/** The stored rule roles (users.rule_roles); a damaged value counts as none. */
export function ruleRoles(user: Pick<User, 'rule_roles'>): readonly string[] {
  try {
    const parsed: unknown = JSON.parse(user.rule_roles);
    return Array.isArray(parsed) ? parsed.filter((role): role is string => typeof role === 'string') : [];
  } catch {
    return [];
  }
}

/** Every role of a user: their rule roles, and `staff`/`superuser` for the flags however they were set. */
export function userRoles(user: Pick<User, 'rule_roles' | 'is_staff' | 'is_superuser'>): string[] {
  const roles = new Set(ruleRoles(user));
  if (user.is_staff) roles.add('staff');
  if (user.is_superuser) roles.add('superuser');
  return [...roles].sort();
}

/**
 * The user with their roles, as `request.user` carries them.
 *
 * @example
 * const user = withRoles(await findUserById(db, 1));
 * user.roles.includes('support');
 */
export function withRoles(user: User): SignedInUser {
  return { ...user, roles: Object.freeze(userRoles(user)) };
}

/** Whether `user` has every one of `required`. */
export function hasRoles(user: { readonly roles: readonly string[] }, required: readonly string[]): boolean {
  return required.every((role) => user.roles.includes(role));
}

/**
 * Recomputes a user's rule roles from their groups (call it after their groups changed), with the
 * flags a rule gives or no longer gives. Works inside `db.transaction()`. Returns whether anything
 * changed; a change is announced, so every instance reads the user anew.
 */
export async function applyRoleRules(db: Db, user: User, rules: readonly RoleRule[], now = Date.now()): Promise<boolean> {
  const roles = rolesFromGroups(rules, await userGroups(db, user.id));
  const before = ruleRoles(user);
  const flag = (role: (typeof FLAG_ROLES)[number], current: 0 | 1): 0 | 1 => {
    if (roles.includes(role)) return 1;
    return before.includes(role) ? 0 : current;
  };
  const set = { rule_roles: JSON.stringify(roles), is_staff: flag('staff', user.is_staff), is_superuser: flag('superuser', user.is_superuser) };
  if (set.rule_roles === user.rule_roles && set.is_staff === user.is_staff && set.is_superuser === user.is_superuser) return false;
  await changing(db, (db) => db.updateTable('users').set({ ...set, modified: now }).where('id', '=', user.id).execute(), userChanged(user.id));
  return true;
}

/** Whether a rule now gives this flag, so the admin may not change it by hand. */
export function flagFromRule(user: Pick<User, 'rule_roles'>, role: (typeof FLAG_ROLES)[number]): boolean {
  return ruleRoles(user).includes(role);
}
