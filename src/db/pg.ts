import { createRequire } from 'node:module';
import type PgModule from 'pg';
import { ConfigError } from '../errors.ts';
import { isMissingPackage, missingPackageMessage } from '../optional-packages.ts';

export type Pg = typeof PgModule;

// require() rather than import(): openDatabase is synchronous, and pg is a CommonJS package.
const require = createRequire(import.meta.url);
let pg: Pg | undefined;

/**
 * The pg package, loaded at the first PostgreSQL connection (it is an optional peer dependency).
 * `why` names what needs it: "DATABASE_URL is postgres://…".
 */
export function loadPg(why: string): Pg {
  try {
    pg ??= require('pg') as Pg;
    return pg;
  } catch (error) {
    if (isMissingPackage(error, 'pg')) throw new ConfigError([missingPackageMessage('pg', why)]);
    throw error;
  }
}
