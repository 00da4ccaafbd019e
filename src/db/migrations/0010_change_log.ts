import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * change_log (SQLite only): what each write that a cache depends on changed (sessions ended, users
 * changed), one row per write, written in the write's own transaction (src/db/change-log.ts). The
 * other processes on the file read the rows past the last one they saw when PRAGMA data_version
 * moves, and drop exactly those entries. AUTOINCREMENT: an id is never used twice, even after every
 * row was pruned, so "the rows after id n" never skips a new row; the ids of committed rows follow
 * each other without holes, so a hole means rows were pruned before a reader saw them.
 *
 * PostgreSQL needs no table: its writes announce themselves with NOTIFY (src/db/change-feed.ts).
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  if (d.autoId !== 'integer') return;
  await db.schema
    .createTable('change_log')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('time', 'integer', (c) => c.notNull())
    .addColumn('changes', 'text', (c) => c.notNull())
    .execute();
}
