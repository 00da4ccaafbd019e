/**
 * Who may do what in /admin/. Staff see everything and manage ordinary accounts; accounts that are
 * staff or superuser themselves, and everyone's staff flag, are for superusers only (otherwise a
 * staff member could set a superuser's password and become one). Nobody can deactivate themselves
 * or take away their own staff flag, so the last admin can't lock everyone out by a slip.
 */
import type { User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';

type Actor = Pick<User, 'id' | 'is_staff' | 'is_superuser'>;
type Target = Pick<User, 'id' | 'is_staff' | 'is_superuser'>;

/** The admin pages are for staff only. */
export function checkStaff(user: Pick<User, 'is_staff'>): void {
  if (!user.is_staff) throw new OidcConnectError('FORBIDDEN', 'These pages are for staff only.');
}

/** Staff manage ordinary accounts; staff and superuser accounts are for superusers. */
export function canManage(actor: Pick<User, 'is_superuser'>, target: Pick<User, 'is_staff' | 'is_superuser'>): boolean {
  return actor.is_superuser === 1 || (target.is_staff === 0 && target.is_superuser === 0);
}

export function canToggleStaff(actor: Actor, target: Target): boolean {
  return actor.is_superuser === 1 && actor.id !== target.id;
}

/**
 * Throws FORBIDDEN unless `actor` may act on `target`. `superuserOnly` names an action only
 * superusers may take on anyone (the staff flag, removing second factors), for the refusal.
 */
export function checkMayAct(actor: Actor, target: Target, options: { superuserOnly?: string } = {}): void {
  if (options.superuserOnly && actor.is_superuser !== 1) {
    throw new OidcConnectError('FORBIDDEN', `Only superusers can ${options.superuserOnly}.`);
  }
  if (!canManage(actor, target)) {
    throw new OidcConnectError('FORBIDDEN', 'Only superusers can manage staff and superuser accounts.');
  }
}

/** Why an actor may not do this to their own account, or null. */
export function selfRefusal(actor: Actor, target: Target, change: 'deactivate' | 'staff'): string | null {
  if (actor.id !== target.id) return null;
  return change === 'deactivate' ? 'You can’t deactivate your own account.' : 'You can’t change your own staff status.';
}
