/**
 * The users list behind /admin/users/.
 *
 * It must stay fast at 100,000 users and more, so every page is one or two index range
 * scans of at most `limit + 1` rows, never a count or a scan of the table:
 *
 * - Order: case-insensitive username, then id; keyset pagination on (lower(username), id) through
 *   the index users_username_lower. Deep pages cost the same as the first (OFFSET would walk every
 *   skipped row).
 * - Search: a case-insensitive *prefix* of the username or the email. A prefix p is the index range
 *   [lower(p), lower(p) + U+10FFFF) in byte order (SQLite's default; COLLATE "C" on PostgreSQL, see
 *   0004_audit_log). A substring search (`%p%`) can't use a b-tree and would scan every row.
 * - A search lists username matches first (alphabetical), then users matched by email only
 *   (alphabetical by email), each phase a range scan of its own index, continued by a cursor.
 */
import { PostgresAdapter, sql, type Expression, type ExpressionBuilder, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Database, User } from '../db/schema.ts';

export const PAGE_SIZE = 50;

/** Where a page of the users list continues: the phase, and the last row's sort key and id. */
export interface UserCursor {
  phase: 'username' | 'email';
  key: string;
  id: number;
}

export type UserListRow = Pick<User,
  'id' | 'username' | 'email' | 'first_name' | 'last_name' | 'is_active' | 'is_staff' | 'is_superuser' | 'last_login' | 'date_joined' | 'source'
> & {
  /** Whether the user has a local password (the hash itself is never selected). */
  has_password: number;
};

export interface UserListPage {
  users: UserListRow[];
  next: UserCursor | null;
}

/**
 * PostgreSQL needs COLLATE "C" to compare in byte order. Kysely doesn't expose the dialect, and
 * its adapter is the one reliable sign of it.
 */
function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

type Column = 'username' | 'email';

function sortKey(pg: boolean, column: Column): RawBuilder<string> {
  return pg ? sql<string>`lower(${sql.ref(`users.${column}`)}) collate "C"` : sql<string>`lower(${sql.ref(`users.${column}`)})`;
}

/** The largest code point: every string with prefix p sorts before p + MAX in byte order. */
const MAX = '\u{10FFFF}';

function inPrefix(eb: ExpressionBuilder<Database, 'users'>, key: Expression<string>, prefix: string) {
  return eb.and([
    eb(key, '>=', eb.fn<string>('lower', [eb.val(prefix)])),
    eb(key, '<', eb.fn<string>('lower', [eb.val(prefix + MAX)])),
  ]);
}

async function phase(
  db: Db,
  pg: boolean,
  column: Column,
  prefix: string,
  after: UserCursor | null,
  limit: number,
): Promise<(UserListRow & { sort_key: string })[]> {
  const key = sortKey(pg, column);
  let query = db
    .selectFrom('users')
    .select([
      'id', 'username', 'email', 'first_name', 'last_name', 'is_active', 'is_staff', 'is_superuser',
      'last_login', 'date_joined', 'source',
    ])
    .select((eb) => [
      eb.case().when('password', 'is', null).then(0).else(1).end().as('has_password'),
      key.as('sort_key'),
    ]);
  if (prefix !== '') query = query.where((eb) => inPrefix(eb, key, prefix));
  // Users whose username matches were listed in the first phase.
  if (column === 'email') query = query.where((eb) => eb.not(inPrefix(eb, sortKey(pg, 'username'), prefix)));
  if (after) {
    // `key >= k` is the index range; the tie on k is settled by id.
    query = query
      .where(key, '>=', after.key)
      .where((eb) => eb.not(eb.and([eb(key, '=', after.key), eb('id', '<=', after.id)])));
  }
  const rows = await query.orderBy(key).orderBy('id').limit(limit).execute();
  return rows as (UserListRow & { sort_key: string })[];
}

/** One page of users, optionally filtered by a username or email prefix. */
export async function listUsers(
  db: Db,
  options: { q?: string; after?: UserCursor | null; limit?: number } = {},
): Promise<UserListPage> {
  const pg = isPostgres(db);
  const prefix = (options.q ?? '').trim().slice(0, 254);
  const limit = options.limit ?? PAGE_SIZE;
  const after = options.after ?? null;
  const rows: (UserListRow & { sort_key: string; phase: UserCursor['phase'] })[] = [];

  if (after?.phase !== 'email') {
    const found = await phase(db, pg, 'username', prefix, after, limit + 1);
    rows.push(...found.map((r) => ({ ...r, phase: 'username' as const })));
  }
  if (prefix !== '' && rows.length <= limit) {
    const found = await phase(db, pg, 'email', prefix, after?.phase === 'email' ? after : null, limit + 1 - rows.length);
    rows.push(...found.map((r) => ({ ...r, phase: 'email' as const })));
  }
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    users: page.map(({ sort_key: _key, phase: _phase, ...user }) => user),
    next: rows.length > limit && last ? { phase: last.phase, key: last.sort_key, id: last.id } : null,
  };
}
