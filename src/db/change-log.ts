/**
 * The change log (SQLite only; migration 0010): how one process tells the others on the same file
 * which sessions and users its writes changed. A write that a cache depends on adds one row in its
 * own transaction (src/db/change-feed.ts `announce`); every other connection reads the rows after
 * the last one it saw when PRAGMA data_version says the file changed. Housekeeping prunes old rows.
 */
import { SqliteAdapter, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { SqliteFile } from './sqlite-dialect.ts';

/** As db/index.ts's Db, named here because index.ts imports this module (no import cycle). */
type Db = Kysely<Database>;

/**
 * Rows are kept this long. A process that has not looked for an hour (it served no request) then
 * finds a hole where pruned rows were, and drops its whole cache: it can't tell what they said.
 */
export const KEEP_MS = 60 * 60_000;

export interface LoggedChange {
  readonly id: number;
  readonly changes: string;
}

/** Reads of the log on one SQLite connection, synchronous (they run within a request's check). */
export interface ChangeLogReader {
  /** The newest row's id; 0 for an empty log. Throws while the table is missing (not migrated yet). */
  last(): number;
  /** The rows after `id`, oldest first. */
  after(id: number): LoggedChange[];
}

export function changeLogReader(file: SqliteFile): ChangeLogReader {
  const last = file.reader('SELECT coalesce(max(id), 0) AS id FROM change_log');
  const after = file.reader('SELECT id, changes FROM change_log WHERE id > ? ORDER BY id');
  return {
    last: () => Number(last()[0]!['id']),
    after: (id) => after(id).map((row) => ({ id: Number(row['id']), changes: String(row['changes']) })),
  };
}

/** Adds one row; call it with the transaction of the write it describes. */
export async function appendChange(db: Db, changes: string, now = Date.now()): Promise<void> {
  await db.insertInto('change_log').values({ time: now, changes }).execute();
}

/**
 * Deletes rows older than KEEP_MS, but never the newest: the ids go on from it, so a reader that
 * saw it knows the next row follows it. Nothing to do on PostgreSQL, which has no log.
 */
export async function pruneChangeLog(db: Db, now = Date.now()): Promise<number> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return 0;
  const result = await db.deleteFrom('change_log')
    .where('time', '<', now - KEEP_MS)
    .where('id', '<', (eb) => eb.selectFrom('change_log').select((s) => s.fn.max('id').as('newest')))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
