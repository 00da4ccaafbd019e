import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { createRelyingParty, type RelyingParty } from '../../src/rp/index.ts';
import { buildApp } from '../../src/web/app.ts';

export interface TestApp {
  url: string;
  config: Config;
  database: DatabaseHandle;
  rp: RelyingParty;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** What every test app is built on: its folder, its port, its config and its migrated database. */
export interface TestAppBase {
  dir: string;
  port: number;
  config: Config;
  database: DatabaseHandle;
  /** Closes the database and removes the folder. */
  close(): Promise<void>;
}

/**
 * A temporary folder with a migrated SQLite database in it, a free port, and the config on both.
 * `env` is the app's whole environment over these defaults (nothing is read from the test process's
 * own environment). DEV_IDP_PORT defaults to 1, where nothing listens: a provider login fails fast
 * unless `env` gives another provider or a running development provider's port.
 */
export async function testAppBase(name: string, env: Record<string, string> = {}): Promise<TestAppBase> {
  const dir = mkdtempSync(join(tmpdir(), `oidc-connect-${name}-`));
  const port = await freePort();
  const config = loadConfig({
    cwd: dir,
    env: {
      PORT: String(port),
      APP_URL: `http://127.0.0.1:${port}`,
      DATABASE_URL: `sqlite:${join(dir, `${name}.sqlite`)}`,
      SESSION_SECRET: 'test-secret-test-secret-test-secret-1234',
      DEV_IDP_PORT: '1',
      ...env,
    },
  });
  const database = openDatabase(config.database);
  const close = async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await migrate(database);
  } catch (error) {
    await close();
    throw error;
  }
  return { dir, port, config, database, close };
}

/** The real app on a real port, on testAppBase. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const base = await testAppBase('test', env);
  const { config, database } = base;
  const rp = createRelyingParty(config, database.db);
  const app = await buildApp({ config, db: database.db, rp });
  await app.listen({ port: base.port, host: '127.0.0.1' });
  return {
    url: config.appUrl,
    config,
    database,
    rp,
    app,
    dir: base.dir,
    async close() {
      await app.close();
      await base.close();
    },
  };
}
