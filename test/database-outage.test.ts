import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { postgresTarget, type TestDatabase } from './support/postgres.ts';

/**
 * A TCP relay between the app and PostgreSQL that the test can cut and restore: the database
 * "goes away" for a moment (connections reset, new ones refused), as in a failover or a restart.
 */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly target: { host: string; port: number };
  port = 0;
  constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

describe('a database that is briefly unavailable', { skip: postgresTarget.skip }, () => {
  let database: TestDatabase;
  let relay: Relay;
  let t: TestApp;

  before(async () => {
    database = await postgresTarget.create();
    const url = new URL(database.url);
    relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
    await relay.open();
    url.host = `127.0.0.1:${relay.port}`;
    t = await startTestApp({ DATABASE_URL: url.href });
    await createUser(t.database.db, { username: 'olga', email: 'olga@example.com', password: 'olga password' });
  });
  after(async () => {
    await t?.close();
    await relay?.cut();
    await database?.drop();
  });

  test('answers a readable 503 while it is down, and recovers without a restart', async () => {
    const client = new HttpClient();
    const page = await client.get(`${t.url}/accounts/login/`);
    assert.equal((await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), username: 'olga', password: 'olga password' })).status, 302);
    assert.match((await client.get(`${t.url}/`)).body, /Hi olga/);

    await relay.cut();
    // The health check first: the instance learns the database is gone when its connections close,
    // and until it has, a logged-in page may still come from its session cache (docs/sessions.md, "Sessions on
    // several instances"). Once it knows, it caches nothing, so the page below needs the database.
    const health = await client.get(`${t.url}/healthz`);
    assert.equal(health.status, 503);
    assert.equal(JSON.parse(health.body).status, 'unavailable');
    const home = await client.get(`${t.url}/`);
    assert.equal(home.status, 503);
    assert.match(home.body, /Temporarily unavailable/);
    assert.match(home.body, /DATABASE_UNAVAILABLE/);
    const api = await client.get(`${t.url}/api/me`, { accept: 'application/json' });
    assert.equal(api.status, 503);
    assert.equal(JSON.parse(api.body).error, 'DATABASE_UNAVAILABLE');

    await relay.open(); // the database is back, on the same address
    assert.equal((await client.get(`${t.url}/healthz`)).status, 200);
    assert.match((await client.get(`${t.url}/`)).body, /Hi olga/, 'the session survived the outage');
  });
});
