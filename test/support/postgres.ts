import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';

/**
 * Test databases. Every suite that touches storage runs once per target: SQLite (always) and
 * PostgreSQL (from TEST_DATABASE_URL, which .ci/run sets). Each `create()` gives a fresh, empty
 * database of its own, so test files can run in parallel and nothing leaks between them.
 *
 *   for (const target of databaseTargets) {
 *     describe(`storage on ${target.name}`, { skip: target.skip }, () => {
 *       let database: TestDatabase;
 *       before(async () => { database = await target.create(); });
 *       after(() => database?.drop());
 *       ...startTestApp({ DATABASE_URL: database.url }) or openDatabase(...)
 *     });
 *   }
 *
 * `npm test` sets TEST_DATABASE_URL to a throwaway cluster when PostgreSQL is installed
 * (scripts/test.ts). Without it the PostgreSQL target is skipped on a developer's machine, and npm test's
 * last line counts those suites; in CI (CI set) it is not skipped: `create()` throws, so every
 * PostgreSQL test fails with the reason.
 */

export interface TestDatabase {
  /** A DATABASE_URL value for the app: `sqlite:/tmp/…/test.sqlite` or `postgres://…/oc_test_…`. */
  readonly url: string;
  /** Removes the database (PostgreSQL: ends its connections first). Safe to call twice. */
  drop(): Promise<void>;
}

export interface DatabaseTarget {
  readonly name: 'sqlite' | 'postgres';
  /** Set when this target can't run here and its tests should be skipped; undefined otherwise. */
  readonly skip: string | undefined;
  /** Creates a fresh, empty database (no migrations applied). */
  create(): Promise<TestDatabase>;
}

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] || undefined;
const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());

export const MISSING_POSTGRES_MESSAGE =
  'TEST_DATABASE_URL is not set, but CI is: the PostgreSQL tests must run in CI. .ci/run installs and starts '
  + 'PostgreSQL and exports it; elsewhere set TEST_DATABASE_URL=postgres://user:password@127.0.0.1:5432/db '
  + '(a role with CREATEDB), or as root run: eval "$(bash .ci/run postgres)"';

/** Test databases are named oc_test_<base36 ms>_<pid>_<random>; the time lets a later run sweep leftovers. */
const PREFIX = 'oc_test_';
const LEFTOVER_AGE_MS = 6 * 60 * 60 * 1000;

export const sqliteTarget: DatabaseTarget = {
  name: 'sqlite',
  skip: undefined,
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-db-'));
    return {
      url: `sqlite:${join(dir, 'test.sqlite')}`,
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresTarget: DatabaseTarget = {
  name: 'postgres',
  // npm test (scripts/test.ts) says why it has no PostgreSQL; a test file run on its own was given none.
  skip: TEST_DATABASE_URL === undefined && !inCi
    ? `no PostgreSQL: ${process.env['TEST_POSTGRES_MISSING'] ?? 'TEST_DATABASE_URL is not set (npm test starts a throwaway cluster when PostgreSQL is installed)'}`
    : undefined,
  create: () => createPostgresDatabase(),
};

export const databaseTargets: readonly DatabaseTarget[] = [sqliteTarget, postgresTarget];

/** A handle on a test database, not migrated: the configuration its DATABASE_URL gives, read in an empty folder. */
export function openTestDatabase(database: TestDatabase): DatabaseHandle {
  const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-config-'));
  try {
    return openDatabase(loadConfig({ cwd, env: { DATABASE_URL: database.url } }).database);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** Runs `work` with a short-lived connection to TEST_DATABASE_URL's own database (the admin connection). */
async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  if (TEST_DATABASE_URL === undefined) throw new Error(MISSING_POSTGRES_MESSAGE);
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // a dropped admin connection surfaces on the next query instead
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to TEST_DATABASE_URL (${redact(TEST_DATABASE_URL)}): ${(error as Error).message}`, { cause: error });
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = `${PREFIX}${Date.now().toString(36)}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin(async (client) => {
    await sweepLeftovers(client);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  });
  const url = new URL(TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.href,
    drop() {
      dropped ??= withAdmin((client) => dropDatabase(client, name));
      return dropped;
    },
  };
}

async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  // Connections still open (an app that didn't close, a crashed child process) would block the drop.
  // Only our role's own: an autovacuum worker on the database is a superuser's, which this role may not
  // terminate (the drop failed with 42501 once); DROP DATABASE stops autovacuum by itself.
  await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND usename = current_user', [name]);
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}

/** Best effort: databases left by runs that were killed before their `drop()`, hours ago. */
async function sweepLeftovers(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE $1 AND pg_get_userbyid(datdba) = current_user`,
    [`${PREFIX.replace(/_/g, '\\_')}%`],
  );
  for (const { datname } of rows) {
    const created = parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
    if (Number.isFinite(created) && Date.now() - created > LEFTOVER_AGE_MS) {
      await dropDatabase(client, datname).catch(() => {});
    }
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}
