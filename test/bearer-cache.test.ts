/**
 * The cache of verified JWT access tokens (src/rp/bearer/cache.ts): a token is verified once, and
 * stops working at once when its user is deactivated or its identity unlinked (on another instance
 * too, through PostgreSQL's LISTEN/NOTIFY), when it expires, and when the provider's keys change.
 *
 * A cached answer is told apart from a fresh one by a write that bypasses the owner of the users
 * table, and so its announcement: the cache can't hear of it, a database read would.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, mock, test } from 'node:test';
import * as jose from 'jose';
import { createUser, setActive } from '../src/accounts/users.ts';
import type { Db } from '../src/db/index.ts';
import { identitiesOf, linkIdentity, unlinkIdentity } from '../src/provisioning/identities.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

/** Discovery and a JWKS that the test changes; nothing else is needed to verify access tokens. */
class KeyServer {
  readonly server: Server;
  jwks: { keys: jose.JWK[] } = { keys: [] };
  issuer = '';

  constructor() {
    this.server = createServer((req, res) => {
      const body = req.url === '/oauth2/default/.well-known/openid-configuration'
        ? { issuer: this.issuer, jwks_uri: `${this.issuer}/v1/keys`, authorization_endpoint: `${this.issuer}/v1/authorize`, token_endpoint: `${this.issuer}/v1/token` }
        : req.url === '/oauth2/default/v1/keys' ? this.jwks : undefined;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/oauth2/default`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function signingKey(kid: string): Promise<{ kid: string; privateKey: CryptoKey; jwk: jose.JWK }> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

const keys = new KeyServer();
let k1: Awaited<ReturnType<typeof signingKey>>;
let k2: Awaited<ReturnType<typeof signingKey>>;

function token(signer: typeof k1, subject: string, expiresIn: string | number = '10m'): Promise<string> {
  return new jose.SignJWT({ scp: ['openid'] }).setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' })
    .setIssuer(keys.issuer).setAudience('api://default').setSubject(subject).setIssuedAt().setExpirationTime(expiresIn)
    .sign(signer.privateKey);
}

async function status(app: TestApp, bearer: string): Promise<number> {
  const response = await fetch(`${app.url}/api/me`, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } });
  await response.arrayBuffer();
  return response.status;
}

async function linkedUser(db: Db, username: string, subject: string): Promise<number> {
  const user = await createUser(db, { username, email: `${username}@example.com` });
  await linkIdentity(db, keys.issuer, subject, user.id);
  return user.id;
}

/** Deactivates behind the owner's back: no announcement, so only a database read would see it. */
const setActiveUnannounced = (db: Db, id: number, active: boolean) =>
  db.updateTable('users').set({ is_active: active ? 1 : 0 }).where('id', '=', id).execute();

/** Whether `app` answers `bearer` from its cache: it still accepts the token while the user is inactive in the database. */
async function servedFromCache(app: TestApp, db: Db, userId: number, bearer: string): Promise<boolean> {
  await setActiveUnannounced(db, userId, false);
  try {
    return (await status(app, bearer)) === 200;
  } finally {
    await setActiveUnannounced(db, userId, true);
  }
}

before(async () => {
  [k1, k2] = await Promise.all([signingKey('k1'), signingKey('k2')]);
  await keys.listen();
});
after(() => keys.close());

describe('one instance (SQLite)', () => {
  let app: TestApp;
  before(async () => {
    keys.jwks = { keys: [k1.jwk] };
    app = await startTestApp({ OIDC_ISSUER: keys.issuer, OIDC_RP_CLIENT_ID: 'api-client', OIDC_RP_CLIENT_SECRET: 'secret' });
  });
  after(() => app?.close());

  test('a verified token is served from the cache; deactivation and unlinking end it at once', async () => {
    const carol = await linkedUser(app.database.db, 'carol', 'sub-carol');
    const bearer = await token(k1, 'sub-carol');
    assert.equal(await status(app, bearer), 200);
    assert.ok(await servedFromCache(app, app.database.db, carol, bearer), 'the second request is answered from the cache');

    await setActive(app.database.db, carol, false);
    assert.equal(await status(app, bearer), 401, 'refused as soon as the deactivation is written');
    await setActive(app.database.db, carol, true);
    assert.equal(await status(app, bearer), 200);

    const [identity] = await identitiesOf(app.database.db, carol);
    await unlinkIdentity(app.database.db, carol, identity!.id);
    assert.equal(await status(app, bearer), 401, 'the identity is gone, so the token has no account here');
    await linkIdentity(app.database.db, keys.issuer, 'sub-carol', carol);
  });

  test('a token is not kept past its expiry', async () => {
    const dave = await linkedUser(app.database.db, 'dave', 'sub-dave');
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const bearer = await token(k1, 'sub-dave', '2m');
      assert.equal(await status(app, bearer), 200);
      assert.ok(await servedFromCache(app, app.database.db, dave, bearer));
      mock.timers.tick(2 * 60_000 + 31_000); // past exp and the clock tolerance
      assert.equal(await status(app, bearer), 401);
    } finally {
      mock.timers.reset();
    }
  });

  test('a cached token signed by a key the provider withdrew is refused once the app has fetched the new keys', async () => {
    await linkedUser(app.database.db, 'erin', 'sub-erin');
    const old = await token(k1, 'sub-erin');
    assert.equal(await status(app, old), 200);
    keys.jwks = { keys: [k2.jwk] }; // the provider withdraws k1
    assert.equal(await status(app, old), 200, 'nothing fetched the keys yet');
    // A token with the new kid makes the app fetch the keys again, and so learn that k1 is gone.
    assert.equal(await status(app, await token(k2, 'sub-erin')), 200);
    assert.equal(await status(app, old), 401);
  });
});

const postgres = databaseTargets.find((target) => target.name === 'postgres')!;

describe('two instances on PostgreSQL', { skip: postgres.skip }, () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    keys.jwks = { keys: [k1.jwk, k2.jwk] };
    database = await postgres.create();
    const env = { OIDC_ISSUER: keys.issuer, OIDC_RP_CLIENT_ID: 'api-client', OIDC_RP_CLIENT_SECRET: 'secret', DATABASE_URL: database.url };
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  test('a deactivation on B is refused on A within a second, though A had the token cached', async () => {
    const frank = await linkedUser(b.database.db, 'frank', 'sub-frank');
    const bearer = await token(k2, 'sub-frank');
    // A caches once it listens for changes (its listener connects in the background).
    const deadline = Date.now() + 10_000;
    while (!(await status(a, bearer) === 200 && await servedFromCache(a, b.database.db, frank, bearer))) {
      assert.ok(Date.now() < deadline, 'A never served the token from its cache');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const started = Date.now();
    await setActive(b.database.db, frank, false);
    while (await status(a, bearer) === 200) {
      assert.ok(Date.now() - started < 1000, 'A still accepts the token a second after B deactivated its user');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await setActive(b.database.db, frank, true);
    assert.equal(await status(b, bearer), 200);
  });
});
