/**
 * The users list's search box and pages: a query string in, one page of users and the links to the
 * next and first pages out. The index-backed search itself is src/accounts/user-list.ts.
 */
import { listUsers, PAGE_SIZE, type UserCursor, type UserListPage } from '../accounts/user-list.ts';
import type { Db } from '../db/index.ts';

type Query = Record<string, unknown>;

/** The cursor as URL parameters, and back. Anything malformed means "first page". */
export function cursorParams(cursor: UserCursor): Record<string, string> {
  return { phase: cursor.phase, after: cursor.key, id: String(cursor.id) };
}

export function parseCursor(query: Query): UserCursor | null {
  const { phase: p, after, id } = query;
  if ((p !== 'username' && p !== 'email') || typeof after !== 'string' || typeof id !== 'string') return null;
  if (!/^\d{1,15}$/.test(id) || after.length > 300) return null;
  return { phase: p, key: after, id: Number(id) };
}

export interface UserSearch {
  q: string;
  page: UserListPage;
  nextUrl: string | null;
  firstUrl: string | null;
  pageSize: number;
}

/** `?q=` (a username or email prefix) and the cursor parameters of /admin/users/. */
export async function searchUsers(db: Db, query: Query): Promise<UserSearch> {
  const q = (typeof query.q === 'string' ? query.q : '').trim().slice(0, 254);
  const after = parseCursor(query);
  const page = await listUsers(db, { q, after });
  const base: Record<string, string> = q === '' ? {} : { q };
  return {
    q,
    page,
    nextUrl: page.next ? `/admin/users/?${new URLSearchParams({ ...base, ...cursorParams(page.next) })}` : null,
    firstUrl: after ? `/admin/users/${q === '' ? '' : `?${new URLSearchParams(base)}`}` : null,
    pageSize: PAGE_SIZE,
  };
}
