// The development OpenID provider ("Okta" on loopback) alone in its own process, with one client per
// competitor. Env: BENCH_IDP_PORT, BENCH_APP_URL (oidc-connect's base URL), BENCH_DATA_DIR,
// BENCH_EXTRA_CLIENTS (JSON array of { client_id, client_secret, redirect_uris }),
// BENCH_IDP_JOURNAL (optional): a journal mode set on the provider's SQLite file before it starts,
// BENCH_USERS_FILE (optional): the provider's users (the demo users and the mixed measure's people).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startDevIdp } from '../../src/index.ts';
import { DATABASE_FILE } from '../../src/dev-idp/start.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const dataDir = env('BENCH_DATA_DIR');
const journal = process.env['BENCH_IDP_JOURNAL'];
if (journal) {
  // journal_mode=WAL is kept in the file, so the provider's store opens it that way.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(join(dataDir, DATABASE_FILE));
  db.exec(`PRAGMA journal_mode = ${journal === 'wal' ? 'WAL' : 'DELETE'}`);
  db.close();
}

const idp = await startDevIdp({
  port: Number(env('BENCH_IDP_PORT')),
  appUrl: env('BENCH_APP_URL'),
  dataDir,
  extraClients: JSON.parse(env('BENCH_EXTRA_CLIENTS')) as [],
  ...(process.env['BENCH_USERS_FILE'] ? { usersFile: process.env['BENCH_USERS_FILE'] } : {}),
});
process.on('SIGTERM', () => void idp.close().finally(() => process.exit(0)));
console.error(`READY ${JSON.stringify({ issuer: idp.issuer, port: idp.port })}`);
