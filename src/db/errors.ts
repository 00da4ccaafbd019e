// The one map of PostgreSQL and SQLite failures to our codes, with messages that say what to fix.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseConfig } from '../config/index.ts';
import { ConfigError, OidcConnectError, networkFailure } from '../errors.ts';

/** Both dialects' ways of saying "unique constraint failed" (PostgreSQL 23505; SQLite's extended codes). */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errcode?: number; message?: string };
  return e?.code === '23505' || e?.errcode === 2067 || e?.errcode === 1555 || /UNIQUE constraint failed/.test(e?.message ?? '');
}

const NETWORK_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const CONNECT_TIMEOUT = /^timeout exceeded when trying to connect/;

/** Connection loss, a server shutting down or out of connections, SQLite busy past its timeout. */
function isDatabaseDown(error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown; errcode?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_DOWN.has(code) || /^(08|57P|53)/.test(code)) return true; // PostgreSQL classes 08, 57P, 53
  if (e.errcode === 5 || e.errcode === 6) return true; // SQLITE_BUSY, SQLITE_LOCKED
  return typeof e.message === 'string'
    && (CONNECT_TIMEOUT.test(e.message) || /^(Connection terminated|Client has encountered a connection error)/.test(e.message));
}

/** A request's database failure as DATABASE_UNAVAILABLE (a 503 that says "try again") when the database is down. */
export function databaseUnavailable(error: unknown): OidcConnectError | undefined {
  if (!isDatabaseDown(error)) return undefined;
  return new OidcConnectError('DATABASE_UNAVAILABLE', 'The database is not answering right now. Please try again in a moment.', { cause: error });
}

const SQLITE_NOTADB = 26;

/** Why a SQLite file could not be opened (or its default directory created), in one line naming DATABASE_URL. */
export function sqliteOpenError(error: unknown, file: string): ConfigError {
  const problem = (reason: string) => new ConfigError([`DATABASE_URL: ${reason}`], { cause: error });
  if ((error as { errcode?: unknown })?.errcode === SQLITE_NOTADB) return problem(`${file} is not a SQLite database`);
  const directory = dirname(file);
  try {
    if (!statSync(directory).isDirectory()) return problem(`${directory} is not a directory, so ${file} cannot be created`);
  } catch (stat) {
    const code = (stat as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return problem(`the directory ${directory} does not exist; create it, or point DATABASE_URL at a file in an existing directory`);
    if (code === 'ENOTDIR') return problem(`part of ${directory} is a file, not a directory, so ${file} cannot be created`);
  }
  return problem(`cannot open or create the SQLite file ${file} (${(error as Error)?.message}); check that its directory is writable`);
}

/**
 * A failure to reach or log in to PostgreSQL (seen at start, by the migrator), in one line naming
 * DATABASE_URL and where it points; undefined for any other failure.
 */
export function connectionError(error: unknown, config: DatabaseConfig): OidcConnectError | undefined {
  if (config.kind !== 'postgres') return undefined;
  const url = new URL(config.url);
  const where = `${url.hostname || 'localhost'}:${url.port || 5432}`;
  const message = (error as Error)?.message ?? '';
  const network = networkFailure(error) ?? (CONNECT_TIMEOUT.test(message) ? 'no answer within the connection timeout' : undefined);
  if (network) return new OidcConnectError('DATABASE_UNAVAILABLE', `cannot reach PostgreSQL at ${where} (DATABASE_URL): ${network}`, { cause: error });
  const code = (error as { code?: unknown })?.code;
  if (code === '28P01' || code === '28000') return new ConfigError([`DATABASE_URL: PostgreSQL at ${where} refused the login (${message})`], { cause: error });
  if (code === '3D000') return new ConfigError([`DATABASE_URL: ${message} on PostgreSQL at ${where}`], { cause: error });
  return undefined;
}
