import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationResult } from 'kysely';
import type { DatabaseConfig } from '../config/index.ts';
import { OidcConnectError } from '../errors.ts';
import { createChangeFeed, type ChangeSource } from './change-feed.ts';
import { changeLogReader } from './change-log.ts';
import { connectionError, sqliteOpenError } from './errors.ts';
import { loadPg } from './pg.ts';
import * as m0001 from './migrations/0001_init.ts';
import * as m0002 from './migrations/0002_logout_tokens.ts';
import * as m0003 from './migrations/0003_session_refresh.ts';
import * as m0004 from './migrations/0004_audit_log.ts';
import * as m0005 from './migrations/0005_email_verification.ts';
import * as m0006 from './migrations/0006_django_import.ts';
import * as m0007 from './migrations/0007_flow_session.ts';
import * as m0008 from './migrations/0008_anonymous_bounds.ts';
import * as m0009 from './migrations/0009_session_csrf.ts';
import * as m0010 from './migrations/0010_change_log.ts';
import * as m0011 from './migrations/0011_mail.ts';
import * as m0012 from './migrations/0012_second_factors.ts';
import * as m0013 from './migrations/0013_scim.ts';
import * as m0014 from './migrations/0014_protocol_depth.ts';
import type { Database } from './schema.ts';
import { NodeSqliteDialect, openSqlite } from './sqlite-dialect.ts';
import { tracedDialect } from './traced-dialect.ts';

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  readonly db: Db;
  readonly kind: DatabaseConfig['kind'];
  close(): Promise<void>;
}

const PG_INT8 = 20;

export function openDatabase(config: DatabaseConfig): DatabaseHandle {
  let db: Db;
  let source: ChangeSource;
  if (config.kind === 'sqlite') {
    const database = openSqliteFile(config);
    db = new Kysely<Database>({ dialect: tracedDialect(new NodeSqliteDialect({ database }), 'sqlite') });
    source = { kind: 'sqlite', dataVersion: database.dataVersion, inTransaction: database.inTransaction, log: changeLogReader(database) };
  } else {
    const pg = loadPg(`DATABASE_URL is ${config.display}`);
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      connectionTimeoutMillis: 5000,
      // Epoch-millisecond columns are int8: return numbers, as SQLite does.
      types: { getTypeParser: (oid, format) => (oid === PG_INT8 ? Number : pg.types.getTypeParser(oid, format)) },
    });
    // A client losing its server must not crash the process: pg emits 'error' on idle clients
    // (through the pool) and on checked-out ones, which Kysely gives no listener. The query in
    // flight is rejected anyway, and the pool drops the broken client when it is released.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    db = new Kysely<Database>({ dialect: tracedDialect(new PostgresDialect({ pool }), 'postgresql') });
    source = { kind: 'postgres', url: config.url, Client: pg.Client };
  }
  const feed = createChangeFeed(db, source);
  const handle: DatabaseHandle = {
    db,
    kind: config.kind,
    async close() {
      await feed.close();
      await db.destroy();
    },
  };
  configs.set(handle, config);
  return handle;
}

/**
 * Only the default ./data directory is created (one level, under the working directory): a mistyped
 * path is reported, not created. Node's recursive mkdir would also spin forever on a path under
 * /proc, where mkdir answers ENOENT even though the parent exists.
 */
function openSqliteFile(config: Extract<DatabaseConfig, { kind: 'sqlite' }>): ReturnType<typeof openSqlite> {
  try {
    if (config.createDirectory) mkdirSync(dirname(config.file), { recursive: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw sqliteOpenError(error, config.file);
  }
  try {
    return openSqlite(config.file);
  } catch (error) {
    throw sqliteOpenError(error, config.file);
  }
}

/**
 * The configuration behind each handle: migration errors name where it points, and migrations of one
 * SQLite file in one process take turns.
 */
const configs = new WeakMap<DatabaseHandle, DatabaseConfig>();
const sqliteMigrations = new Map<string, Promise<unknown>>();

/**
 * Numbered migrations; the name's number gives the order. Exported for the tests that stop partway
 * (Kysely's Migrator.migrateTo) to run one migration on rows written before it.
 */
export function migrations(kind: DatabaseConfig['kind']): Record<string, Migration> {
  const dialect: m0001.Dialect = kind === 'sqlite'
    ? { autoId: 'integer', millis: 'integer' }
    : { autoId: 'serial', millis: 'bigint' };
  return {
    '0001_init': { up: (db) => m0001.up(db, dialect) },
    '0002_logout_tokens': { up: (db) => m0002.up(db, dialect) },
    '0003_session_refresh': { up: (db) => m0003.up(db, dialect) },
    '0004_audit_log': { up: (db) => m0004.up(db, dialect) },
    '0005_email_verification': { up: (db) => m0005.up(db) },
    '0006_django_import': { up: (db) => m0006.up(db, dialect) },
    '0007_flow_session': { up: (db) => m0007.up(db) },
    '0008_anonymous_bounds': { up: (db) => m0008.up(db) },
    '0009_session_csrf': { up: (db) => m0009.up(db) },
    '0010_change_log': { up: (db) => m0010.up(db, dialect) },
    '0011_mail': { up: (db) => m0011.up(db, dialect) },
    '0012_second_factors': { up: (db) => m0012.up(db, dialect) },
    '0013_scim': { up: (db) => m0013.up(db, dialect) },
    '0014_protocol_depth': { up: (db) => m0014.up(db, dialect) },
  };
}

/**
 * Applies pending migrations; returns the names applied now. Safe when several instances start at
 * once: PostgreSQL migrators wait on an advisory lock, SQLite ones on the write lock (see
 * NodeSqliteDialect), and then find nothing left to apply.
 */
export async function migrate(handle: DatabaseHandle): Promise<string[]> {
  const config = configs.get(handle);
  const file = config?.kind === 'sqlite' && config.file !== ':memory:' ? config.file : undefined;
  if (file === undefined) return migrateNow(handle);
  // Two connections to one SQLite file in one process: the second one's BEGIN IMMEDIATE would block
  // the thread while the first, on the same thread, can't finish. So they take turns here.
  const run = (sqliteMigrations.get(file) ?? Promise.resolve()).catch(() => {}).then(() => migrateNow(handle));
  sqliteMigrations.set(file, run);
  try {
    return await run;
  } finally {
    if (sqliteMigrations.get(file) === run) sqliteMigrations.delete(file);
  }
}

async function migrateNow(handle: DatabaseHandle): Promise<string[]> {
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: async () => migrations(handle.kind) },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const config = configs.get(handle);
    const unreachable = config && connectionError(error, config);
    if (unreachable) throw unreachable;
    const failed = results?.find((r: MigrationResult) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new OidcConnectError('DATABASE_UNAVAILABLE', `Migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The migrations not applied yet, without applying (or creating) anything. */
export async function pendingMigrations(handle: DatabaseHandle): Promise<{ pending: string[]; total: number }> {
  const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => migrations(handle.kind) } });
  const all = await migrator.getMigrations();
  return { pending: all.filter((m) => m.executedAt === undefined).map((m) => m.name), total: all.length };
}
