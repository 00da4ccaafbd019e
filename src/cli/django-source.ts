import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { DjangoUser } from '../accounts/django-import.ts';
import { redact } from '../config/parse.ts';
import { loadPg } from '../db/pg.ts';
import { OidcConnectError } from '../errors.ts';

/**
 * Reads a Django project's users (auth_user, with group names from auth_group and auth_user_groups
 * when those exist) from its database, opened read-only: SQLite through node:sqlite's
 * readOnly mode (no pragma or journal change either), PostgreSQL in read-only transactions.
 * Users come in id order, a batch at a time, so a table of any size streams.
 */
export interface DjangoSource {
  /** Where the users come from, with any password hidden. */
  readonly display: string;
  count(onlyActive: boolean): Promise<number>;
  batches(onlyActive: boolean, size: number): AsyncGenerator<Omit<DjangoUser, 'providerUsername'>[]>;
  close(): Promise<void>;
}

/** The auth_user columns read; a schema without one of them is from a Django we don't support. */
const COLUMNS = ['id', 'username', 'email', 'first_name', 'last_name', 'password', 'is_active', 'is_staff', 'is_superuser', 'date_joined', 'last_login'];
/** Django 1.10's migration: 150-character usernames. Older schemas are not supported. */
const OLDEST_AUTH_MIGRATION = '0008_alter_user_username_max_length';

interface Reader {
  query(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  hasTable(name: string): Promise<boolean>;
  close(): Promise<void>;
}

const fail = (message: string, cause?: unknown): never => {
  throw new OidcConnectError('BAD_REQUEST', message, cause === undefined ? undefined : { cause });
};

/** Opens `sqlite:/path/db.sqlite3` or `postgres://…` (the forms DATABASE_URL takes) and checks it is Django's. */
export async function openDjangoSource(url: string, cwd = process.cwd()): Promise<DjangoSource> {
  let reader: Reader;
  let display: string;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    const file = isAbsolute(path) ? path : resolve(cwd, path);
    display = `SQLite file ${file}`;
    if (path === '' || !existsSync(file)) fail(`No Django database at ${url}: the file ${file} does not exist.`);
    reader = sqliteReader(file);
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    display = `PostgreSQL ${redact(url)}`;
    reader = await postgresReader(url, display);
  } else {
    return fail(`Unsupported Django database URL "${redact(url)}": use sqlite:/path/to/db.sqlite3 or postgres://user:password@host:5432/db.`);
  }
  let hasGroups: boolean;
  try {
    await checkSchema(reader, display);
    hasGroups = await reader.hasTable('auth_group') && await reader.hasTable('auth_user_groups');
  } catch (error) {
    await reader.close();
    throw error;
  }
  return {
    display,
    async count(onlyActive) {
      const [row] = await reader.query(`SELECT count(*) AS n FROM auth_user${onlyActive ? ' WHERE is_active = $1' : ''}`, onlyActive ? [true] : []);
      return Number(row?.n ?? 0);
    },
    async* batches(onlyActive, size) {
      let after = -1;
      for (;;) {
        const rows = await reader.query(
          `SELECT ${COLUMNS.join(', ')} FROM auth_user WHERE id > $1${onlyActive ? ' AND is_active = $3' : ''} ORDER BY id LIMIT $2`,
          onlyActive ? [after, size, true] : [after, size],
        );
        if (rows.length === 0) return;
        const first = Number(rows[0]!.id);
        after = Number(rows.at(-1)!.id);
        const groups = new Map<number, string[]>();
        for (const row of !hasGroups ? [] : await reader.query(
          'SELECT ug.user_id, g.name FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id BETWEEN $1 AND $2 ORDER BY g.name',
          [first, after],
        )) {
          const id = Number(row.user_id);
          groups.set(id, [...(groups.get(id) ?? []), String(row.name)]);
        }
        yield rows.map((row) => toDjangoUser(row, groups.get(Number(row.id)) ?? []));
      }
    },
    close: () => reader.close(),
  };
}

async function checkSchema(reader: Reader, display: string): Promise<void> {
  if (!(await reader.hasTable('django_migrations'))) fail(`${display} is not a Django database: it has no django_migrations table.`);
  if (!(await reader.hasTable('auth_user'))) {
    fail(`${display} has no auth_user table: only django.contrib.auth's User model can be imported (a custom AUTH_USER_MODEL is not supported).`);
  }
  const applied = await reader.query("SELECT name FROM django_migrations WHERE app = 'auth' AND name = $1", [OLDEST_AUTH_MIGRATION]);
  if (applied.length === 0) {
    fail(`${display} has the users table of a Django older than 1.10 (migration auth.${OLDEST_AUTH_MIGRATION} is not applied), which is not supported: upgrade the Django project and run its migrations first.`);
  }
  try {
    await reader.query(`SELECT ${COLUMNS.join(', ')} FROM auth_user WHERE 1 = 0`, []);
  } catch (error) {
    fail(`${display} has an auth_user table this importer does not support (${(error as Error).message}); it needs the columns ${COLUMNS.join(', ')}.`, error);
  }
}

function toDjangoUser(row: Record<string, unknown>, groups: string[]): Omit<DjangoUser, 'providerUsername'> {
  return {
    id: Number(row.id),
    username: String(row.username),
    email: String(row.email ?? ''),
    firstName: String(row.first_name ?? ''),
    lastName: String(row.last_name ?? ''),
    password: String(row.password ?? ''),
    isActive: Boolean(row.is_active),
    isStaff: Boolean(row.is_staff),
    isSuperuser: Boolean(row.is_superuser),
    dateJoined: toMillis(row.date_joined) ?? 0,
    lastLogin: toMillis(row.last_login),
    groups,
  };
}

/**
 * PostgreSQL gives timestamptz as Date. Django's SQLite backend stores text such as
 * `2024-05-01 12:34:56.789012`, in UTC when USE_TZ is on (the default since Django 5.0, and in
 * every project startproject made since 1.4), which is how it is read here.
 */
function toMillis(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return value.getTime();
  const match = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d{1,6})?(Z|[+-]\d\d:?\d\d)?$/.exec(String(value));
  if (!match) return null;
  const millis = Date.parse(`${match[1]}T${match[2]}${(match[3] ?? '').slice(0, 4)}${match[4] ?? 'Z'}`);
  return Number.isNaN(millis) ? null : millis;
}

function sqliteReader(file: string): Reader {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { readOnly: true });
  } catch (error) {
    return fail(`Cannot open ${file} as an SQLite database: ${(error as Error).message}.`, error);
  }
  const run = (sql: string, params: unknown[]) => {
    try {
      // node:sqlite numbers parameters ?NNN; $1-style placeholders become ?1.
      return db.prepare(sql.replace(/\$(\d+)/g, '?$1')).all(...(params.map((p) => (p === true ? 1 : p)) as Array<number | string>));
    } catch (error) {
      const message = (error as Error).message;
      if (/not a database|file is encrypted/i.test(message)) fail(`${file} is not an SQLite database (${message}).`, error);
      throw error;
    }
  };
  return {
    query: async (sql, params) => run(sql, params) as Record<string, unknown>[],
    hasTable: async (name) => run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", [name]).length > 0,
    close: async () => db.close(),
  };
}

async function postgresReader(url: string, display: string): Promise<Reader> {
  // Every transaction is read-only, so this connection can't write to Django's database.
  const pg = loadPg(`the Django database ${display} is PostgreSQL`);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, options: '-c default_transaction_read_only=on' });
  client.on('error', () => {}); // a lost connection surfaces on the next query
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    return fail(`Cannot connect to the Django database (${display}): ${(error as Error).message}.`, error);
  }
  return {
    query: async (sql, params) => (await client.query(sql, params)).rows,
    hasTable: async (name) => (await client.query('SELECT to_regclass($1) IS NOT NULL AS found', [name])).rows[0]?.found === true,
    close: () => client.end(),
  };
}
