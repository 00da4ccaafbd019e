/**
 * A span per statement (src/tracing.ts), by wrapping a Kysely dialect's connections: every query,
 * prepared ones and transactions' included, reaches the database through `executeQuery`. The span
 * names the statement's kind and table (`SELECT sessions`), never its text or its parameters.
 * The adapter is the dialect's own object, so the change feed, keyed by it, still finds its database.
 */
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { SpanKind, spanFailed, tracer } from '../tracing.ts';

/** `db.system.name` of OpenTelemetry's database conventions. */
export type DatabaseSystem = 'sqlite' | 'postgresql';

/** First words that may name a statement's kind; anything else is OTHER, so nothing of a statement's text leaks. */
const KEYWORDS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'WITH', 'BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE',
  'CREATE', 'ALTER', 'DROP', 'PRAGMA', 'LISTEN', 'UNLISTEN', 'NOTIFY', 'VACUUM', 'ANALYZE', 'SET']);

/** Kysely's query nodes that name their table, and where. */
interface TableNode { kind: 'TableNode'; table: { identifier: { name: string } } }
interface QueryNodeShape {
  kind: string;
  from?: { froms?: readonly { kind: string }[] };
  into?: TableNode;
  table?: { kind: string };
}

/**
 * A raw statement's table (prepared ones are raw SQL, src/db/prepared.ts): the identifier after INTO,
 * UPDATE, or the first FROM. Only a plain lower-case identifier is taken, so a value can't be; values
 * are parameters anyway.
 */
const RAW_TABLE = /^\s*(?:insert\s+into|update|delete\s+from|select\b[\s\S]*?\bfrom)\s+"?([a-z_][a-z0-9_]*)"?/i;

/** The statement's kind (SELECT, INSERT…) and its table when Kysely's tree, or a raw statement's start, names one. */
export function statementSummary(query: CompiledQuery): { operation: string; table: string | undefined } {
  const node = query.query as unknown as QueryNodeShape;
  const first = /^\s*([A-Za-z]+)/.exec(query.sql)?.[1]?.toUpperCase();
  const operation = first !== undefined && KEYWORDS.has(first) ? first : 'OTHER';
  const target = node.into ?? node.table ?? node.from?.froms?.[0];
  const table = target?.kind === 'TableNode' ? (target as TableNode).table.identifier.name
    : node.kind === 'RawNode' ? RAW_TABLE.exec(query.sql)?.[1]?.toLowerCase() : undefined;
  return { operation, table };
}

/**
 * The dialect with a span around each statement.
 *
 * @example
 * new Kysely<Database>({ dialect: tracedDialect(new PostgresDialect({ pool }), 'postgresql') });
 */
export function tracedDialect(dialect: Dialect, system: DatabaseSystem): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new TracedDriver(dialect.createDriver(), system),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}

class TracedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  readonly #system: DatabaseSystem;

  constructor(inner: DatabaseConnection, system: DatabaseSystem) {
    this.inner = inner;
    this.#system = system;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const span = tracer.startSpan('statement', { kind: SpanKind.CLIENT });
    // Named only when someone records: without a tracer provider, the statement is not even looked at.
    if (span.isRecording()) {
      const { operation, table } = statementSummary(query);
      span.updateName(table === undefined ? operation : `${operation} ${table}`);
      span.setAttributes({ 'db.system.name': this.#system, 'db.operation.name': operation, ...(table === undefined ? {} : { 'db.collection.name': table }) });
    }
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (error) {
      spanFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class TracedDriver implements Driver {
  readonly #inner: Driver;
  readonly #system: DatabaseSystem;
  readonly savepoint?: Driver['savepoint'];
  readonly rollbackToSavepoint?: Driver['rollbackToSavepoint'];
  readonly releaseSavepoint?: Driver['releaseSavepoint'];

  constructor(inner: Driver, system: DatabaseSystem) {
    this.#inner = inner;
    this.#system = system;
    const savepoint = inner.savepoint;
    const rollbackTo = inner.rollbackToSavepoint;
    const release = inner.releaseSavepoint;
    if (savepoint) this.savepoint = (connection, name, compile) => savepoint.call(inner, unwrap(connection), name, compile);
    if (rollbackTo) this.rollbackToSavepoint = (connection, name, compile) => rollbackTo.call(inner, unwrap(connection), name, compile);
    if (release) this.releaseSavepoint = (connection, name, compile) => release.call(inner, unwrap(connection), name, compile);
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new TracedConnection(await this.#inner.acquireConnection(), this.#system);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(unwrap(connection), settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(unwrap(connection));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(unwrap(connection));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof TracedConnection ? connection.inner : connection;
