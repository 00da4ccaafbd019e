import { readFileSync } from 'node:fs';
import { Eta } from 'eta';
import type { AuditView, DashboardView, SessionsView, UserDetailView, UsersView } from '../admin/view-models.ts';
import type { User } from '../db/schema.ts';

/** Eta escapes every `<%= %>` by default; templates are compiled once and cached. */
const eta = new Eta({ views: new URL('./views', import.meta.url).pathname, cache: true, autoEscape: true });

export type ViewUser = Pick<User, 'username' | 'email' | 'is_staff' | 'password'> | null;

export interface Views {
  home: { user: ViewUser; csrf: string; provider: string | null };
  login: { error: string | null; csrf: string; next: string; username: string; providers: { name: string; query: string }[] };
  password_change: { user: ViewUser; csrf: string; error: string | null };
  password_change_done: { user: ViewUser };
  error: { user: ViewUser; title: string; message: string; code: string; status: number; retry: string | null };
  'admin-dashboard': DashboardView;
  'admin-users': UsersView;
  'admin-user': UserDetailView;
  'admin-sessions': SessionsView;
  'admin-audit': AuditView;
}

export function render<K extends keyof Views>(view: K, data: Views[K]): string {
  return eta.render(`./${view}`, data);
}

export const stylesheet = readFileSync(new URL('./static/app.css', import.meta.url), 'utf8');
