import { CompiledQuery, type Compilable, type DialectAdapter, type Insertable } from 'kysely';
import type { Db } from './index.ts';
import type { Database } from './schema.ts';

/** Where a named parameter goes in a statement's tree; the compiled parameter list says where it landed. */
class Parameter {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/** One slot of a compiled statement's parameter list: a named parameter, or a value the statement fixes. */
export type PreparedSlot = { readonly parameter: string } | { readonly value: unknown };

/** What a prepared statement compiles to on one database: its SQL, and what fills each placeholder, in order. */
export interface PreparedCompilation {
  readonly sql: string;
  readonly slots: readonly PreparedSlot[];
}

/** A prepared statement: call it with the database and its named parameters. */
export interface PreparedStatement<Name extends string, Row> {
  (db: Db, parameters: Readonly<Record<Name, unknown>>): Promise<Row[]>;
  /** Its name in `preparedStatements` (the contract test, test/prepared-statements.test.ts, lists each one's SQL). */
  readonly statementName: string;
  /** Compiles it for `db` (or takes the compilation kept for `db`'s dialect). */
  compile(db: Db): PreparedCompilation;
}

const statements = new Map<string, PreparedStatement<string, unknown>>();

/** Every statement made by `prepared()` and `preparedInsert()` so far, by name (modules make theirs as they load). */
export const preparedStatements: ReadonlyMap<string, PreparedStatement<string, unknown>> = statements;

/**
 * A hot query compiled once per database instead of on every call: Kysely builds and compiles a
 * query's tree each time, which cost more than the database read itself on the session lookup.
 * `build` puts `p(name)` where each parameter goes; the compiled parameter list shows where Kysely
 * placed each one, so a call passes its parameters by name and never depends on their order in the SQL.
 * Kept per dialect adapter, which a database's transactions share, so a statement run in one is
 * compiled once too. (`getExecutor()` is marked internal in Kysely: the contract test checks that
 * transactions share the adapter, and each statement's SQL, at every upgrade.)
 *
 * @example
 *   const userById = prepared('users.byId', ['id'], (db, p) => db.selectFrom('users').selectAll().where('id', '=', p('id')));
 *   const [user] = await userById(db, { id: 7 });
 */
export function prepared<const Name extends string, Row>(
  statementName: string,
  names: readonly Name[],
  build: (db: Db, p: (name: Name) => never) => Compilable<Row>,
): PreparedStatement<Name, Row> {
  if (statements.has(statementName)) throw new TypeError(`prepared(): a statement is already named ${statementName}`);
  const compiled = new WeakMap<DialectAdapter, PreparedCompilation>();
  const compile = (db: Db): PreparedCompilation => {
    const adapter = db.getExecutor().adapter;
    let compilation = compiled.get(adapter);
    if (compilation === undefined) {
      const query = build(db, (name) => new Parameter(name) as never).compile();
      const slots = query.parameters.map((value): PreparedSlot => (value instanceof Parameter ? { parameter: value.name } : { value }));
      const missing = names.filter((name) => !slots.some((slot) => 'parameter' in slot && slot.parameter === name));
      if (missing.length > 0) throw new TypeError(`prepared(${statementName}): ${missing.join(', ')} declared but not used`);
      compilation = { sql: query.sql, slots };
      compiled.set(adapter, compilation);
    }
    return compilation;
  };
  const statement = Object.assign(async (db: Db, parameters: Readonly<Record<Name, unknown>>) => {
    const { sql, slots } = compile(db);
    const values = slots.map((slot) => ('parameter' in slot ? parameters[slot.parameter as Name] : slot.value));
    return (await db.executeQuery<Row>(CompiledQuery.raw(sql, values))).rows;
  }, { statementName, compile });
  statements.set(statementName, statement as PreparedStatement<string, unknown>);
  return statement;
}

/**
 * An INSERT of a row into `table`, compiled once: each column is a parameter named after it, so
 * the row is the call's parameters. `columns` must name every column the callers' rows set.
 *
 * @example
 *   const insertEvent = preparedInsert('audit_log', ['time', 'type', 'username']);
 *   await insertEvent(db, { time: Date.now(), type: 'login', username: 'alice' });
 */
export function preparedInsert<T extends keyof Database, const C extends keyof Database[T] & string>(table: T, columns: readonly C[]): (db: Db, row: Insertable<Database[T]>) => Promise<void> {
  const insert = prepared(`${table}.insert`, columns, (db, p) =>
    db.insertInto(table).values(Object.fromEntries(columns.map((column) => [column, p(column)])) as never));
  return async (db, row) => {
    await insert(db, row as unknown as Record<C, unknown>);
  };
}
