import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationResult } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.ts';
import { OidcConnectError } from '../errors.ts';
import * as m0001 from './migrations/0001_init.ts';
import type { Database } from './schema.ts';
import { openSqlite } from './sqlite-adapter.ts';

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  readonly db: Db;
  readonly kind: DatabaseConfig['kind'];
  close(): Promise<void>;
}

const PG_INT8 = 20;

export function openDatabase(config: DatabaseConfig): DatabaseHandle {
  let db: Db;
  if (config.kind === 'sqlite') {
    if (config.file !== ':memory:') mkdirSync(dirname(config.file), { recursive: true });
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: openSqlite(config.file) }) });
  } else {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      connectionTimeoutMillis: 5000,
      // Epoch-millisecond columns are int8: return numbers, as SQLite does.
      types: { getTypeParser: (oid, format) => (oid === PG_INT8 ? Number : pg.types.getTypeParser(oid, format)) },
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  return { db, kind: config.kind, close: () => db.destroy() };
}

/** Numbered migrations; the name's number gives the order. */
function migrations(kind: DatabaseConfig['kind']): Record<string, Migration> {
  const dialect: m0001.Dialect = kind === 'sqlite'
    ? { autoId: 'integer', millis: 'integer' }
    : { autoId: 'serial', millis: 'bigint' };
  return {
    '0001_init': { up: (db) => m0001.up(db, dialect) },
  };
}

/** Applies pending migrations; returns the names applied now. */
export async function migrate(handle: DatabaseHandle): Promise<string[]> {
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: async () => migrations(handle.kind) },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r: MigrationResult) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new OidcConnectError('DATABASE_UNAVAILABLE', `Migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
