import { createQueryId, RawNode, type Compilable, type CompiledQuery, type DialectAdapter, type Insertable } from 'kysely';
import type { Db } from './index.ts';
import type { Database } from './schema.ts';

/**
 * A hot query compiled once per database instead of on every call: Kysely builds and compiles a
 * query's tree each time, which cost more than the database read itself on the session lookup.
 * `build` uses placeholder values; callers pass the real ones in the order they appear in the SQL.
 * Kept per dialect adapter, which a database's transactions share, so a query run in one is compiled once too.
 */
export function prepared<Row>(build: (db: Db) => Compilable<Row>): (db: Db, parameters: readonly unknown[]) => Promise<Row[]> {
  const compiled = new WeakMap<DialectAdapter, { sql: string; query: RawNode }>();
  return async (db, parameters) => {
    const adapter = db.getExecutor().adapter;
    let statement = compiled.get(adapter);
    if (statement === undefined) {
      const { sql } = build(db).compile();
      statement = { sql, query: RawNode.createWithSql(sql) };
      compiled.set(adapter, statement);
    }
    // What CompiledQuery.raw(sql, parameters) makes, without freezing four new objects per call
    // (Kysely reads these fields and keeps none of them).
    const query: CompiledQuery<Row> = { sql: statement.sql, query: statement.query, parameters, queryId: createQueryId() };
    return (await db.executeQuery<Row>(query)).rows;
  };
}

/**
 * An INSERT of a row into `table`, compiled once: the returned function passes the row's values in
 * the order of `columns`, which must name every column the callers' rows set.
 */
export function preparedInsert<T extends keyof Database>(table: T, columns: readonly (keyof Database[T] & string)[]): (db: Db, row: Insertable<Database[T]>) => Promise<void> {
  const placeholders = Object.fromEntries(columns.map((column) => [column, null])) as unknown as Insertable<Database[T]>;
  const insert = prepared((db) => db.insertInto(table).values(placeholders as never));
  return async (db, row) => {
    await insert(db, columns.map((column) => (row as Record<string, unknown>)[column]));
  };
}
