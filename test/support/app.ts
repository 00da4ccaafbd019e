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

/**
 * The real app on a real port, with its own SQLite file in a temporary folder. `env` is the
 * environment the app sees (nothing is read from the test process's own environment).
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-test-'));
  const port = await freePort();
  const config = loadConfig({
    cwd: dir,
    env: {
      PORT: String(port),
      APP_URL: `http://127.0.0.1:${port}`,
      DATABASE_URL: `sqlite:${join(dir, 'test.sqlite')}`,
      SESSION_SECRET: 'test-secret-test-secret-test-secret-1234',
      DEV_IDP_PORT: '1',
      ...env,
    },
  });
  const database = openDatabase(config.database);
  await migrate(database);
  const rp = createRelyingParty(config, database.db);
  const app = await buildApp({ config, db: database.db, rp });
  await app.listen({ port, host: '127.0.0.1' });
  return {
    url: config.appUrl,
    config,
    database,
    rp,
    app,
    dir,
    async close() {
      await app.close();
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
