import { CompiledQuery, type Compilable } from 'kysely';
import type { Db } from './index.ts';

/**
 * A hot query compiled once per database instead of on every call: Kysely builds and compiles a
 * query's tree each time, which cost more than the database read itself on the session lookup.
 * `build` uses placeholder values; callers pass the real ones in the order they appear in the SQL.
 */
export function prepared<Row>(build: (db: Db) => Compilable<Row>): (db: Db, parameters: readonly unknown[]) => Promise<Row[]> {
  const compiled = new WeakMap<Db, string>();
  return async (db, parameters) => {
    let text = compiled.get(db);
    if (text === undefined) {
      text = build(db).compile().sql;
      compiled.set(db, text);
    }
    return (await db.executeQuery<Row>(CompiledQuery.raw(text, [...parameters]))).rows;
  };
}
