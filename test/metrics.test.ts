/**
 * Prometheus metrics (issue 22, section 4), scraped from a real app signed in through the development
 * provider, on SQLite and PostgreSQL: the token is asked for and checked, and each metric moves when
 * the thing it counts happens (a password login, a wrong password, a lockout, a provider login, a
 * failed callback, a reset mail that can't go out, a bearer token, a queued password hash). Then
 * METRICS_PORT: the metrics on a port of their own, and not on the app's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { reserveAttempt } from '../src/accounts/lockout.ts';
import { createUser } from '../src/accounts/users.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../src/dev-idp/index.ts';
import { hashingCapacityOf } from '../src/web/protection/hashing-capacity.ts';
import { pluginState } from '../src/web/plugin.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { authorizationRequest, signIn } from './support/dev-idp-login.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

const TOKEN = 'metrics-token-metrics-token-metrics-token-0123';
const alice = { email: 'alice@example.com', password: 'wonderland' };

/** Prometheus's text format, read by hand: `name{labels}` -> value, for every sample line. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

/** The value of the series `name` whose labels include every one of `labels` (0 when there is none); several are summed. */
function value(scrape: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, v] of scrape) {
    const brace = series.indexOf('{');
    if ((brace === -1 ? series : series.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, l]) => series.includes(`${k}="${l}"`))) sum += v;
  }
  return sum;
}

for (const target of databaseTargets) {
  describe(`metrics on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let s: DevStack;

    before(async () => {
      database = await target.create();
      s = await startDevStack({
        DATABASE_URL: database.url, METRICS: 'on', METRICS_TOKEN: TOKEN, LOGIN_RATE_LIMIT_PER_MINUTE: '100000',
        PASSWORD_HASH_CONCURRENCY: '1',
        // Nothing listens there: a reset mail stays in the outbox, to be tried again.
        EMAIL_URL: 'smtp://127.0.0.1:1',
      });
      await createUser(s.app.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
      await createUser(s.app.database.db, { username: 'dave', email: 'dave@example.com', password: 'dave password' });
    });
    after(async () => {
      await s?.close();
      await database?.drop();
    });

    async function scrape(): Promise<Map<string, number>> {
      const response = await fetch(`${s.app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 200);
      return samples(await response.text());
    }

    async function login(client: HttpClient, username: string, password: string): Promise<Hop> {
      const page = await client.get(`${s.app.url}/accounts/login/`);
      return client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password });
    }

    test('a scrape without the token, or with another, is refused 401 METRICS_UNAUTHORIZED with a Bearer challenge; with it, Prometheus text', async () => {
      for (const headers of ([{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }] as Record<string, string>[])) {
        const refused = await fetch(`${s.app.url}/metrics`, { headers });
        assert.equal(refused.status, 401);
        assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="metrics"');
        assert.equal(((await refused.json()) as { error: string }).error, 'METRICS_UNAUTHORIZED');
      }
      const response = await fetch(`${s.app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      assert.match(text, /^# TYPE oidc_connect_sign_ins_total counter$/m);
      // The default process metrics, in this app's own registry.
      assert.ok(value(samples(text), 'process_cpu_user_seconds_total') > 0);
      assert.ok(value(samples(text), 'nodejs_heap_size_used_bytes') > 0);
    });

    test('a password login, a wrong password and a lockout move the sign-in counter, the page histogram and the locked gauge', async () => {
      const before = await scrape();
      assert.equal((await login(new HttpClient(), 'carol', 'carol password')).status, 302);
      assert.equal((await login(new HttpClient(), 'carol', 'wrong')).status, 401);
      // dave: 10 attempts counted by the lockout's own function (as 10 wrong passwords would be, without
      // their 10 hashes), then the next one is refused unchecked.
      for (let i = 0; i < s.app.config.lockout.maxFailures; i++) await reserveAttempt(s.app.database.db, s.app.config.lockout, 'dave');
      await login(new HttpClient(), 'dave', 'dave password');
      const after = await scrape();
      const moved = (labels: Record<string, string>) => value(after, 'oidc_connect_sign_ins_total', labels) - value(before, 'oidc_connect_sign_ins_total', labels);
      assert.equal(moved({ method: 'password', provider: '', outcome: 'success' }), 1);
      assert.equal(moved({ method: 'password', outcome: 'INVALID_CREDENTIALS' }), 1);
      assert.equal(moved({ method: 'password', outcome: 'TOO_MANY_ATTEMPTS' }), 1);
      assert.equal(value(before, 'oidc_connect_accounts_locked'), 0);
      assert.equal(value(after, 'oidc_connect_accounts_locked'), 1);
      const posts = { route: '/accounts/login/', method: 'POST' };
      assert.equal(value(after, 'oidc_connect_http_request_duration_seconds_count', { ...posts, status_class: '3xx' })
        - value(before, 'oidc_connect_http_request_duration_seconds_count', { ...posts, status_class: '3xx' }), 1);
      assert.equal(value(after, 'oidc_connect_http_request_duration_seconds_count', { ...posts, status_class: '4xx' })
        - value(before, 'oidc_connect_http_request_duration_seconds_count', { ...posts, status_class: '4xx' }), 2);
      // Route patterns, never the URL: an unknown address is "unmatched".
      await fetch(`${s.app.url}/no/such/page/${Math.random()}`);
      const later = await scrape();
      assert.ok(value(later, 'oidc_connect_http_request_duration_seconds_count', { route: 'unmatched', status_class: '4xx' }) >= 1);
      assert.ok(![...later.keys()].some((series) => series.includes('/no/such/page')));
    });

    test('a provider login and a failed callback move the sign-in counter, and the provider calls are timed by endpoint', async () => {
      const before = await scrape();
      const client = new HttpClient();
      const landed = await providerLogin(client, s.app.url, alice);
      assert.equal(landed.status, 302, landed.body);
      const failed = await client.get(`${s.app.url}/authorization-code/callback?state=forged&code=forged`);
      assert.equal(failed.status, 400);
      const after = await scrape();
      const moved = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
      assert.equal(moved('oidc_connect_sign_ins_total', { method: 'provider', provider: 'default', outcome: 'success' }), 1);
      assert.equal(moved('oidc_connect_sign_ins_total', { method: 'provider', outcome: 'STATE_INVALID' }), 1);
      assert.ok(moved('oidc_connect_provider_request_duration_seconds_count', { provider: 'default', endpoint: 'token', outcome: '2xx' }) >= 1);
      // Discovery and the keys were fetched once, at the first sign-in of this app (the first test's).
      assert.ok(value(after, 'oidc_connect_provider_request_duration_seconds_count', { provider: 'default', endpoint: 'discovery', outcome: '2xx' }) >= 1);
      assert.ok(value(after, 'oidc_connect_provider_request_duration_seconds_count', { provider: 'default', endpoint: 'jwks', outcome: '2xx' }) >= 1);
      assert.ok(value(after, 'oidc_connect_provider_request_duration_seconds_sum', { endpoint: 'token' }) > 0);

      // The session cache: the signed-in pages are looked up in it.
      for (let i = 0; i < 3; i++) assert.equal((await client.get(`${s.app.url}/`)).status, 200);
      const pages = await scrape();
      const lookups = (scrape: Map<string, number>) => value(scrape, 'oidc_connect_cache_lookups_total', { cache: 'session' });
      assert.ok(lookups(pages) - lookups(after) >= 3);
      assert.ok(value(pages, 'oidc_connect_cache_lookups_total', { cache: 'session', result: 'hit' }) >= 1);
      assert.ok(value(pages, 'oidc_connect_cache_entries', { cache: 'session' }) >= 1);
      assert.equal(value(pages, 'oidc_connect_change_feed_live'), 1);

      // Ending the session is announced: on PostgreSQL through NOTIFY, which comes back to this instance.
      const page = await client.get(`${s.app.url}/`);
      await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(page.body, '_csrf') });
      const out = await scrape();
      if (target.name === 'postgres') {
        assert.ok(value(out, 'oidc_connect_change_feed_echoes_total') > value(pages, 'oidc_connect_change_feed_echoes_total'));
        assert.ok(value(out, 'oidc_connect_change_feed_echo_seconds_total') > 0);
      } else {
        assert.equal(value(out, 'oidc_connect_change_feed_lag_seconds'), 0); // SQLite reads its log itself
      }
    });

    test('a bearer token moves the verified-token cache', async () => {
      const redirectUri = `${s.app.url}/authorization-code/callback`;
      const request = await authorizationRequest(s.idp.issuer, DEV_CLIENT_ID, redirectUri);
      const callback = await signIn(new HttpClient(), request.url, redirectUri, alice);
      const tokens = await (await fetch(`${s.idp.issuer}/v1/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: request.codeVerifier }),
      })).json() as { access_token: string };
      const before = await scrape();
      for (let i = 0; i < 2; i++) {
        const me = await fetch(`${s.app.url}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
        assert.equal(me.status, 200);
      }
      const after = await scrape();
      const stats = pluginState(s.app.app).bearer.verifiedTokenStats()!;
      assert.ok(stats.hits + stats.misses >= 2);
      const lookups = (scrape: Map<string, number>) => value(scrape, 'oidc_connect_cache_lookups_total', { cache: 'bearer_token' });
      assert.equal(lookups(after) - lookups(before), 2);
      assert.equal(value(after, 'oidc_connect_cache_lookups_total', { cache: 'bearer_token', result: 'hit' }), stats.hits);
    });

    test('a reset mail that cannot go out shows in the outbox gauge', async () => {
      assert.equal(value(await scrape(), 'oidc_connect_mail_outbox_pending'), 0);
      const client = new HttpClient();
      const form = await client.get(`${s.app.url}/accounts/password_reset/`);
      const asked = await client.post(`${s.app.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email: 'carol@example.com' });
      assert.equal(asked.status, 302);
      assert.equal(value(await scrape(), 'oidc_connect_mail_outbox_pending'), 1);
    });

    test('password hashes waiting for a slot show in the queue gauge', async () => {
      // PASSWORD_HASH_CONCURRENCY=1: the one slot is held here, so the login's check waits for it.
      let release!: () => void;
      const held = hashingCapacityOf(s.app.config).run(() => new Promise<void>((resolve) => { release = resolve; }));
      const client = new HttpClient();
      const page = await client.get(`${s.app.url}/accounts/login/`);
      const waiting = client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username: 'carol', password: 'carol password' });
      let seen = await scrape();
      while (value(seen, 'oidc_connect_password_hashes', { state: 'waiting' }) === 0) seen = await scrape(); // until the login has queued
      assert.equal(value(seen, 'oidc_connect_password_hashes', { state: 'running' }), 1);
      assert.equal(value(seen, 'oidc_connect_password_hashes', { state: 'waiting' }), 1);
      release();
      await held;
      assert.equal((await waiting).status, 302);
      const done = await scrape();
      assert.equal(value(done, 'oidc_connect_password_hashes', { state: 'running' }), 0);
      assert.equal(value(done, 'oidc_connect_password_hashes', { state: 'waiting' }), 0);
    });
  });
}

describe('METRICS_PORT: the metrics on a port of their own', () => {
  let t: TestApp;
  let port: number;
  before(async () => {
    t = await startTestApp({ METRICS: 'on', METRICS_PORT: '0', METRICS_TOKEN: TOKEN, HOST: '127.0.0.1' });
    port = pluginState(t.app).runtime.metrics!.address!.port;
  });
  after(() => t?.close());

  test('served there, with the token, and not on the app\'s port', async () => {
    assert.notEqual(port, new URL(t.url).port);
    assert.equal((await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
    const refused = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    const served = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(served.status, 200);
    assert.match(await served.text(), /^oidc_connect_sign_ins_total|^# HELP oidc_connect_sign_ins_total /m);
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
  });

  test('a provider that does not answer: its discovery is timed with outcome error, and the failed start is a sign-in with PROVIDER_UNREACHABLE', async () => {
    // This app's provider is at DEV_IDP_PORT=1, where nothing listens.
    const start = await fetch(`${t.url}/authorization-code/authenticate/`, { redirect: 'manual' });
    assert.equal(start.status, 502);
    const scraped = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text());
    assert.ok(value(scraped, 'oidc_connect_provider_request_duration_seconds_count', { provider: 'default', endpoint: 'discovery', outcome: 'error' }) >= 1);
    assert.equal(value(scraped, 'oidc_connect_sign_ins_total', { method: 'provider', provider: 'default', outcome: 'PROVIDER_UNREACHABLE' }), 1);
  });
});
