import { closeSync, openSync } from 'node:fs';
import type { SQLInputValue, SQLOutputValue, StatementSync } from 'node:sqlite';
import { LRUCache } from 'lru-cache';
import {
  CompiledQuery, SqliteAdapter, SqliteDialect, SqliteDriver,
  type DatabaseConnection, type DialectAdapter, type Driver, type SqliteDatabase, type SqliteDialectConfig, type SqliteStatement,
} from 'kysely';

const STATEMENT_CACHE_SIZE = 200;

/**
 * Presents node:sqlite's DatabaseSync as the better-sqlite3-shaped object Kysely's SqliteDialect
 * expects, so no native addon is needed. Prepared statements are cached by SQL text because
 * Kysely prepares on every query and preparing dominates small reads.
 */
export interface SqliteFile extends SqliteDatabase {
  /** Changes whenever another connection (another process, or another handle here) commits to the file. */
  dataVersion(): number;
  /** Whether this connection is inside a transaction now (one of Kysely's, between its statements). */
  inTransaction(): boolean;
  /**
   * A read run on this connection directly, outside Kysely's queue and without a promise: for the
   * change feed's checks, which run on every request. Prepared at its first call.
   */
  reader(sql: string): (...parameters: SQLInputValue[]) => Record<string, SQLOutputValue>[];
}

export function openSqlite(file: string): SqliteFile {
  createPrivately(file);
  // Fetched here, not imported: Node 20 has no node:sqlite, and a static import would fail to link
  // before src/node-version.ts could say which Node is needed.
  const db = new (process.getBuiltinModule('node:sqlite').DatabaseSync)(file);
  // WAL lets the CLI and a running server share the file; the timeout waits out a writer's lock.
  // The timeout comes first: switching a new file to WAL needs a lock that another process opening
  // the same file at the same moment may hold ("database is locked" otherwise).
  db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
  const cache = new LRUCache<string, SqliteStatement>({ max: STATEMENT_CACHE_SIZE });
  const dataVersion = db.prepare('PRAGMA data_version');

  return {
    close: () => db.close(),
    dataVersion: () => Number(dataVersion.get()!['data_version']),
    inTransaction: () => db.isTransaction,
    reader(sql) {
      let statement: StatementSync | undefined;
      return (...parameters) => (statement ??= db.prepare(sql)).all(...parameters);
    },
    prepare(sql: string): SqliteStatement {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = wrap(db.prepare(sql));
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

/**
 * The file holds password hashes: a new one is made readable by its owner only, and SQLite gives its
 * -wal and -shm files the database file's mode. An existing file keeps the mode its owner chose.
 */
function createPrivately(file: string): void {
  if (file === ':memory:' || file === '') return;
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function wrap(statement: StatementSync): SqliteStatement {
  const reader = statement.columns().length > 0;
  return {
    reader,
    all: (parameters) => statement.all(...bind(parameters)),
    run: (parameters) => statement.run(...bind(parameters)),
    iterate: (parameters) => statement.iterate(...bind(parameters)),
  };
}

/** node:sqlite rejects booleans and undefined; store them as SQLite itself would. */
function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((value) => {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === undefined) return null;
    return value as SQLInputValue;
  });
}

/**
 * Kysely's SqliteDialect assumes one connection owns the file. Several processes may share one
 * (the CLI next to a server, two servers starting at once), so:
 * - transactions start with BEGIN IMMEDIATE: they take the write lock up front and wait for it
 *   (busy_timeout) instead of failing with SQLITE_BUSY when a read-then-write transaction finds
 *   that another connection wrote in between;
 * - migrations run in one such transaction (SQLite's DDL is transactional): a second migrator
 *   waits, then finds them applied, and a failed migration leaves nothing half-created.
 */
export class NodeSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalSqliteAdapter();
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
