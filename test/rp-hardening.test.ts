/**
 * Hardening suite for the relying party (issues 3 and 5): the real app, over real HTTP, against a
 * deliberately misbehaving OpenID provider (test/support/fake-op.ts).
 *
 * Every refused sign-in must end on the readable error page (stable code, "Try again") with a 4xx,
 * 502 or 504 status (never a 500), set no session cookie, and write nothing: the users, identities
 * and sessions tables stay as they were. The well-behaved case is proved first, so the refusals
 * are meaningful.
 *
 * One fake OP and one app per describe block; cases whose fault acts on what the app caches
 * (discovery, JWKS) get a fresh pair of their own.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../src/errors.ts';
import { JWKS_COOLDOWN_MS } from '../src/rp/jwks.ts';
import { freePort, startTestApp, type TestApp } from './support/app.ts';
import { startFakeOp, type Fault, type FakeOp, type FakeOpOptions } from './support/fake-op.ts';
import { HttpClient, type Hop } from './support/http-client.ts';
import { signInRows } from './support/rows.ts';

const CLAIMS = {
  email: 'fake.user@example.com',
  email_verified: true,
  preferred_username: 'fakeuser',
  given_name: 'Fake',
  family_name: 'User',
  name: 'Fake User',
};

interface Rig {
  op: FakeOp;
  app: TestApp;
  close(): Promise<void>;
}

async function startRig(options: { op?: FakeOpOptions; fault?: Fault; env?: Record<string, string> } = {}): Promise<Rig> {
  const op = await startFakeOp({ claims: CLAIMS, ...options.op });
  // Set before the app's first discovery/JWKS fetch (the app fetches lazily, at the first login).
  if (options.fault) op.setFault(options.fault);
  let app: TestApp;
  try {
    app = await startTestApp({
      OIDC_ISSUER: op.issuer,
      OIDC_RP_CLIENT_ID: 'test-client',
      OIDC_RP_CLIENT_SECRET: 'test-secret',
      ...options.env,
    });
  } catch (error) {
    await op.close();
    throw error;
  }
  return {
    op,
    app,
    async close() {
      await app.close();
      await op.close();
    },
  };
}

/** A scoped rig for one test: always closed, even when the test fails. */
async function withRig(options: Parameters<typeof startRig>[0], run: (rig: Rig) => Promise<void>): Promise<void> {
  const rig = await startRig(options);
  try {
    await run(rig);
  } finally {
    await rig.close();
  }
}

const authenticateUrl = (app: TestApp, next = '/api/me'): string =>
  `${app.url}/authorization-code/authenticate/?next=${encodeURIComponent(next)}`;

/** Clicks "Log In", lets the fake OP answer at once, and returns the callback URL it redirected to. */
async function beginLogin(rig: Rig, browser: HttpClient, next = '/api/me'): Promise<URL> {
  const start = await browser.get(authenticateUrl(rig.app, next));
  assert.equal(start.status, 302, `authenticate should redirect to the provider, got ${start.status}: ${start.body.slice(0, 300)}`);
  assert.ok(start.location?.startsWith(`${rig.op.endpoints.authorization}?`), `redirects to the provider: ${start.location}`);
  assert.ok(browser.cookie(rig.app.url, 'oc_flow'), 'the flow-binding cookie is set');
  const back = await browser.get(start.location!);
  assert.equal(back.status, 302, `the fake OP redirects straight back: ${back.body.slice(0, 300)}`);
  assert.ok(back.location?.startsWith(`${rig.app.url}/authorization-code/callback?`), `back to our callback: ${back.location}`);
  return new URL(back.location!);
}

/** A whole login; returns the callback's answer. */
async function login(rig: Rig, browser: HttpClient, next = '/api/me'): Promise<Hop> {
  const callback = await beginLogin(rig, browser, next);
  return browser.get(callback.href);
}

type Counts = { users: number; identities: number; sessions: number };

const counts = (app: TestApp): Promise<Counts> => signInRows(app.database.db);

const EMPTY: Counts = { users: 0, identities: 0, sessions: 0 };

function setsSessionCookie(hop: Hop): boolean {
  return hop.headers.getSetCookie().some((line) => /^(__Host-)?oc_session=[^;]/.test(line) && !/max-age=0/i.test(line));
}

/**
 * The refusal contract: the stable code's status (4xx, 502 or 504, never a 500), the HTML error
 * page with that code and a "Try again" link, no session cookie, and nothing written.
 */
async function assertRefused(
  rig: Rig,
  browser: HttpClient,
  hop: Hop,
  code: ErrorCode,
  options: { before?: Counts; message?: RegExp } = {},
): Promise<void> {
  const status: number = ERROR_CODES[code].status;
  const summary = `${hop.status} ${hop.body.match(/Error code: [A-Z_]+/)?.[0] ?? hop.body.slice(0, 400)}`;
  assert.notEqual(hop.status, 500, `never a 500: ${summary}`);
  assert.ok((hop.status >= 400 && hop.status < 500) || hop.status === 502 || hop.status === 504, `4xx, 502 or 504: ${summary}`);
  assert.equal(hop.status, status, `status of ${code}: ${summary}`);
  assert.match(hop.headers.get('content-type') ?? '', /^text\/html/);
  assert.ok(hop.body.includes(`Error code: ${code} · HTTP ${status}`), `error page with ${code}: ${summary}`);
  assert.match(hop.body, /<a [^>]*href="[^"]+"[^>]*>Try again<\/a>/, 'a "Try again" link');
  assert.doesNotMatch(hop.body, /\bat [\w.<>]+ \(|node:internal|\.ts:\d+/, 'no stack trace');
  if (options.message) assert.match(alertText(hop.body), options.message, 'refused for the expected reason');
  assert.equal(setsSessionCookie(hop), false, 'no session cookie is set');
  if (!options.before) assert.equal(browser.cookie(rig.app.url, 'oc_session'), undefined, 'the browser has no session');
  assert.deepEqual(await counts(rig.app), options.before ?? EMPTY, 'nothing is written to the database');
}

/** The error page's message, HTML entities undone, so a test can check why the login was refused. */
function alertText(body: string): string {
  const raw = /role="alert">([^<]*)</.exec(body)?.[1] ?? '';
  return raw.replace(/&quot;|&#34;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** For inputs whose exact outcome is free: any readable answer that is not a server error. */
function assertNoServerError(hop: Hop, what: string): void {
  assert.ok(hop.status < 500 || hop.status === 502 || hop.status === 504, `${what}: no 5xx crash, got ${hop.status}: ${hop.body.slice(0, 300)}`);
  assert.notEqual(hop.status, 500, what);
}

const jwksFetches = (op: FakeOp): number => op.requests.filter((r) => r.path.endsWith('/v1/keys')).length;
const discoveryFetches = (op: FakeOp): number => op.requests.filter((r) => r.path.endsWith('/.well-known/openid-configuration')).length;

// -------------------------------------------------------------------------------------------------

describe('a well-behaved provider', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());

  test('the authorization request carries state, nonce, PKCE S256 and our redirect_uri', async () => {
    const browser = new HttpClient();
    await beginLogin(rig, browser);
    const request = rig.op.lastAuthorizationRequest;
    assert.ok(request);
    assert.equal(request.get('response_type'), 'code');
    assert.equal(request.get('client_id'), 'test-client');
    assert.equal(request.get('redirect_uri'), `${rig.app.url}/authorization-code/callback`);
    assert.ok(request.get('scope')?.split(' ').includes('openid'));
    assert.ok((request.get('state') ?? '').length >= 22, 'a random state');
    assert.ok((request.get('nonce') ?? '').length >= 22, 'a random nonce');
    assert.match(request.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(request.get('code_challenge_method'), 'S256');
    for (const name of ['state', 'nonce', 'code_challenge', 'redirect_uri', 'client_id']) {
      assert.equal(request.getAll(name).length, 1, `${name} once`);
    }
  });

  test('every login gets its own state, nonce and code challenge', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2; i++) {
      await beginLogin(rig, new HttpClient());
      const request = rig.op.lastAuthorizationRequest!;
      for (const name of ['state', 'nonce', 'code_challenge']) seen.add(`${name}=${request.get(name)}`);
    }
    assert.equal(seen.size, 6);
  });

  test('the login succeeds end to end and lands on next', async () => {
    const before = await counts(rig.app);
    const browser = new HttpClient();
    const done = await login(rig, browser);
    assert.equal(done.status, 302, done.body.slice(0, 400));
    assert.equal(done.location, `${rig.app.url}/api/me`);
    assert.ok(setsSessionCookie(done));
    const me = await browser.get(done.location!, { accept: 'application/json' });
    assert.equal(me.status, 200);
    const user = JSON.parse(me.body) as Record<string, unknown>;
    assert.equal(user.email, CLAIMS.email);
    assert.equal(user.username, CLAIMS.preferred_username);
    assert.equal(user.provider, 'default');
    const after = await counts(rig.app);
    assert.deepEqual(after, { users: before.users + (before.users === 0 ? 1 : 0), identities: Math.max(1, before.identities), sessions: before.sessions + 1 });
  });

  test('the callback also answers with a trailing slash', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    const done = await browser.get(`${rig.app.url}/authorization-code/callback/${callback.search}`);
    assert.equal(done.status, 302, done.body.slice(0, 400));
    assert.equal(done.location, `${rig.app.url}/api/me`);
  });

  test('client_secret_basic is used at the token endpoint (the fake advertises and enforces only that)', async () => {
    const tokenCalls = () => rig.op.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/v1/token')).length;
    const before = tokenCalls();
    const done = await login(rig, new HttpClient());
    // The fake answers invalid_client to a request without a Basic header, or with a body secret too.
    assert.equal(done.status, 302, done.body.slice(0, 400));
    assert.equal(tokenCalls(), before + 1, 'exactly one token request');
  });

  test('state replay: a used callback URL is refused, in the same browser and in another', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    const first = await browser.get(callback.href);
    assert.equal(first.status, 302);
    const before = await counts(rig.app);
    const sameBrowser = await browser.get(callback.href);
    await assertRefused(rig, browser, sameBrowser, 'STATE_INVALID', { before });
    const attacker = new HttpClient();
    const otherBrowser = await attacker.get(callback.href);
    await assertRefused(rig, attacker, otherBrowser, 'STATE_INVALID', { before });
  });

  test('code replay: a used code with a fresh state is refused by the provider and nothing is written', async () => {
    const browser = new HttpClient();
    const used = await beginLogin(rig, browser);
    assert.equal((await browser.get(used.href)).status, 302);
    const fresh = await beginLogin(rig, browser);
    const replay = new URL(fresh);
    replay.searchParams.set('code', used.searchParams.get('code')!);
    const before = await counts(rig.app);
    const hop = await browser.get(replay.href);
    await assertRefused(rig, browser, hop, 'PROVIDER_ERROR', { before, message: /invalid_grant/ });
  });

  for (const next of ['//evil.example', 'https://evil.example', '/\\evil.example', '/\\/evil.example', 'javascript:alert(1)', '/\t/evil.example', '\t//evil.example']) {
    test(`open redirect: next=${JSON.stringify(next)} ends at /`, async () => {
      const browser = new HttpClient();
      const start = await browser.get(authenticateUrl(rig.app, next));
      assert.equal(start.status, 302);
      const back = await browser.get(start.location!);
      const done = await browser.get(back.location!);
      assert.equal(done.status, 302, done.body.slice(0, 400));
      assert.equal(done.location, `${rig.app.url}/`);
    });
  }

  test('a same-origin next with a query is carried through', async () => {
    const done = await login(rig, new HttpClient(), '/accounts/login/?x=1');
    assert.equal(done.status, 302);
    assert.equal(done.location, `${rig.app.url}/accounts/login/?x=1`);
  });

  test('garbage oc_flow cookies at login start cause no 500', async () => {
    for (const garbage of ['%ff%00', 'x'.repeat(3000), '"quoted"', '%ZZ', 'a%0d%0aSet-Cookie:%20evil=1', '']) {
      const browser = new HttpClient();
      browser.setCookie(rig.app.url, 'oc_flow', garbage);
      const start = await browser.get(authenticateUrl(rig.app));
      assertNoServerError(start, `oc_flow=${garbage.slice(0, 20)} at authenticate`);
      assert.ok(!start.headers.getSetCookie().some((line) => /^evil=/.test(line)), 'no header injection');
      if (start.status !== 302) continue;
      const back = await browser.get(start.location!);
      const done = await browser.get(back.location!);
      assertNoServerError(done, `oc_flow=${garbage.slice(0, 20)} at callback`);
    }
  });

  test('a planted flow binding is never reused: the app replaces it with its own', async () => {
    for (const planted of ['attacker-known', 'A'.repeat(44), 'x'.repeat(3000)]) {
      const browser = new HttpClient();
      browser.setCookie(rig.app.url, 'oc_flow', planted);
      const start = await browser.get(authenticateUrl(rig.app));
      assert.equal(start.status, 302);
      const binding = browser.cookie(rig.app.url, 'oc_flow')!;
      assert.notEqual(binding, planted);
      assert.match(binding, /^[\w-]{43}$/);
    }
    // A well-formed binding the app made is kept, so several tabs share it.
    const browser = new HttpClient();
    await browser.get(authenticateUrl(rig.app));
    const first = browser.cookie(rig.app.url, 'oc_flow');
    await browser.get(authenticateUrl(rig.app));
    assert.equal(browser.cookie(rig.app.url, 'oc_flow'), first);
  });

  test('garbage oc_session cookies cause no 500', async () => {
    for (const garbage of ['%ff%00', 'x'.repeat(4000), 'null', '../../etc/passwd', '%ZZ', 'a.b.c']) {
      const browser = new HttpClient();
      browser.setCookie(rig.app.url, 'oc_session', garbage);
      const home = await browser.get(`${rig.app.url}/`);
      assert.equal(home.status, 200, `home with oc_session=${garbage.slice(0, 20)}`);
      assert.match(home.body, /You are not logged in/);
      const me = await browser.get(`${rig.app.url}/api/me`, { accept: 'application/json' });
      assert.equal(me.status, 401);
      // And a real login over a garbage session cookie still works, and replaces it.
      const done = await login(rig, browser);
      assert.equal(done.status, 302, done.body.slice(0, 400));
      assert.notEqual(browser.cookie(rig.app.url, 'oc_session'), garbage);
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('refused sign-ins (one provider, faults in the token, userinfo and flow)', () => {
  let rig: Rig;
  before(async () => {
    // 1 s keeps the timeout case fast; the fake answers everything else at once.
    rig = await startRig({ env: { OIDC_HTTP_TIMEOUT_SECONDS: '1' } });
  });
  afterEach(() => rig.op.setFault('none'));
  after(() => rig.close());

  // The message names the failed check, so each case is shown to fail for its own reason.
  const tokenCases: Array<[Fault, ErrorCode, RegExp?]> = [
    ['wrong-iss', 'ID_TOKEN_INVALID', /"iss"/],
    ['wrong-aud', 'ID_TOKEN_INVALID', /"aud"/],
    ['missing-sub', 'ID_TOKEN_INVALID', /"sub"/],
    ['missing-iat', 'ID_TOKEN_INVALID', /"iat"/],
    ['bad-signature', 'ID_TOKEN_INVALID', /signature/],
    ['expired', 'ID_TOKEN_INVALID', /"exp"/],
    ['issued-in-future', 'ID_TOKEN_INVALID', /"nbf"|iat/],
    ['wrong-nonce', 'NONCE_INVALID', /nonce/],
    ['missing-nonce', 'NONCE_INVALID', /nonce/],
    ['userinfo-sub-mismatch', 'USERINFO_INVALID'],
    ['userinfo-500', 'PROVIDER_BAD_RESPONSE', /during userinfo/],
    ['authorize-error', 'PROVIDER_ERROR', /access_denied/],
    ['token-500', 'PROVIDER_BAD_RESPONSE', /during token/],
    ['token-garbage', 'PROVIDER_BAD_RESPONSE', /during token/],
  ];
  for (const [fault, code, message] of tokenCases) {
    test(`${fault} → ${code}`, async () => {
      rig.op.setFault(fault);
      const browser = new HttpClient();
      const hop = await login(rig, browser);
      await assertRefused(rig, browser, hop, code, message ? { message } : {});
    });
  }

  // The fake OP holds the token request until it closes: only our timeout (OIDC_HTTP_TIMEOUT_SECONDS) ends it.
  test('token-timeout → 504 PROVIDER_TIMEOUT', async () => {
    rig.op.setFault('token-timeout');
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    const hop = await browser.get(callback.href);
    await assertRefused(rig, browser, hop, 'PROVIDER_TIMEOUT');
  });

  test('state mismatch: a tampered state is refused', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    const state = callback.searchParams.get('state')!;
    callback.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    await assertRefused(rig, browser, await browser.get(callback.href), 'STATE_INVALID');
  });

  test('state mismatch: a callback without state is refused', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    callback.searchParams.delete('state');
    await assertRefused(rig, browser, await browser.get(callback.href), 'STATE_INVALID');
  });

  test('login CSRF: a callback URL from another browser\'s flow is refused', async () => {
    const victimFlow = await beginLogin(rig, new HttpClient());
    // An attacker's browser with no flow cookie at all…
    const bare = new HttpClient();
    await assertRefused(rig, bare, await bare.get(victimFlow.href), 'STATE_INVALID');
    // …and one with its own flow in progress (its own oc_flow cookie).
    const other = new HttpClient();
    await beginLogin(rig, other);
    const anotherFlow = await beginLogin(rig, new HttpClient());
    await assertRefused(rig, other, await other.get(anotherFlow.href), 'STATE_INVALID');
  });

  test('login CSRF: a swapped oc_flow cookie is refused', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    browser.setCookie(rig.app.url, 'oc_flow', 'attacker-chosen-binding');
    await assertRefused(rig, browser, await browser.get(callback.href), 'STATE_INVALID');
  });

  test('an expired flow → FLOW_EXPIRED', async () => {
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    await rig.app.database.db.updateTable('oidc_flows').set({ expires: Date.now() - 1000 }).execute();
    await assertRefused(rig, browser, await browser.get(callback.href), 'FLOW_EXPIRED');
  });

  test('a failed callback cannot be retried either (the flow is used up)', async () => {
    rig.op.setFault('wrong-nonce');
    const browser = new HttpClient();
    const callback = await beginLogin(rig, browser);
    await assertRefused(rig, browser, await browser.get(callback.href), 'NONCE_INVALID');
    rig.op.setFault('none');
    await assertRefused(rig, browser, await browser.get(callback.href), 'STATE_INVALID');
  });

  test('a repeated state parameter is refused (400, not a provider error)', async () => {
    const browser = new HttpClient();
    // The flow's state first, then another: a parser that takes the last one must not win either.
    const callback = await beginLogin(rig, browser);
    await assertRefused(rig, browser, await browser.get(`${callback.href}&state=other`), 'STATE_INVALID');
    // Someone else's state first, ours second.
    const second = await beginLogin(rig, browser);
    const state = second.searchParams.get('state')!;
    second.searchParams.delete('state');
    await assertRefused(rig, browser, await browser.get(`${second.href}&state=nope&state=${encodeURIComponent(state)}`), 'STATE_INVALID');
  });

  test('a repeated code, or an iss naming another issuer (mix-up), in the callback is refused (400)', async () => {
    for (const extra of ['&code=other', '&code=', `&iss=${encodeURIComponent('https://attacker.example/oauth2/default')}`]) {
      const browser = new HttpClient();
      const callback = await beginLogin(rig, browser);
      await assertRefused(rig, browser, await browser.get(`${callback.href}${extra}`), 'STATE_INVALID');
    }
  });

  test('oversized and malformed callback query strings', async () => {
    const base = `${rig.app.url}/authorization-code/callback`;
    const browser = new HttpClient();
    await beginLogin(rig, browser); // a real oc_flow cookie
    const queries = [
      `?code=x&state=${'a'.repeat(10 * 1024)}`,
      '?code=x&state=%00',
      '?code=x&state=%ff',
      '?code=x&state=%ZZ%',
      '?code=x&state=%C0%AF..%2F',
      '?code=%00&state=a%00b',
      '?state=&code=',
      '?code&state',
      '?state[]=a&code[]=b',
      '?state=a&state=a&state=a',
      '',
      '?',
      `?${'&'.repeat(5000)}`,
      '?error=access_denied&error_description=%ff%00<script>',
    ];
    for (const query of queries) {
      const hop = await browser.get(`${base}${query}`);
      await assertRefused(rig, browser, hop, 'STATE_INVALID');
      assert.doesNotMatch(hop.body, /<script>/, 'reflected input is escaped');
    }
  });

  test('a query string larger than the server accepts gets a 4xx, and the app keeps serving', async () => {
    // fetch, not HttpClient: node:http reports the server's early close as ECONNRESET before the 431.
    const hop = await fetch(`${rig.app.url}/authorization-code/callback?code=x&state=${'a'.repeat(70 * 1024)}`, { redirect: 'manual' });
    assert.ok(hop.status >= 400 && hop.status < 500, `got ${hop.status}`);
    assert.equal((await new HttpClient().get(`${rig.app.url}/healthz`)).status, 200);
    assert.deepEqual(await counts(rig.app), EMPTY);
  });

  test('garbage oc_flow and oc_session cookies on the callback', async () => {
    for (const garbage of ['%ff%00', 'x'.repeat(4000), '%ZZ', '""', '\\u0000']) {
      const browser = new HttpClient();
      const callback = await beginLogin(rig, browser);
      browser.setCookie(rig.app.url, 'oc_flow', garbage);
      browser.setCookie(rig.app.url, 'oc_session', garbage);
      const hop = await browser.get(callback.href);
      assertNoServerError(hop, `garbage cookies ${garbage.slice(0, 10)}`);
      assert.equal(hop.status, 400);
      assert.ok(hop.body.includes('Error code: STATE_INVALID'));
      assert.equal(setsSessionCookie(hop), false);
      assert.deepEqual(await counts(rig.app), EMPTY);
    }
  });

  test('after every refusal above, a good login still works (the refusals were not a broken rig)', async () => {
    const done = await login(rig, new HttpClient());
    assert.equal(done.status, 302, done.body.slice(0, 400));
    assert.equal(done.location, `${rig.app.url}/api/me`);
  });
});

// -------------------------------------------------------------------------------------------------

describe('algorithm attacks (fresh discovery, so the fake advertises the weak algorithm)', () => {
  test('alg none is refused even when the provider advertises none', async () => {
    await withRig({ fault: 'alg-none' }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /"alg"/ });
    });
  });

  test('HS256 signed with the RSA public key is refused even when the provider advertises HS256', async () => {
    await withRig({ fault: 'hs256-with-public-key' }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /"alg"/ });
    });
  });

  test('HS256 is refused with OIDC_RP_SIGN_ALGO=RS256 too', async () => {
    await withRig({ fault: 'hs256-with-public-key', env: { OIDC_RP_SIGN_ALGO: 'RS256' } }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /"alg"/ });
    });
  });
});

describe('claims that only our own checks catch', () => {
  test('iat in the future (without nbf) is refused by our iat check', async () => {
    const now = Math.floor(Date.now() / 1000);
    await withRig({ op: { claims: { ...CLAIMS, iat: now + 3600 } } }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /issued in the future \(iat\)/ });
    });
  });

  test('iat slightly ahead, within the clock tolerance, is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    await withRig({ op: { claims: { ...CLAIMS, iat: now + 10 } } }, async (rig) => {
      const done = await login(rig, new HttpClient());
      assert.equal(done.status, 302, done.body.slice(0, 400));
    });
  });

  test('azp naming another client is refused', async () => {
    await withRig({ op: { claims: { ...CLAIMS, azp: 'some-other-client' } } }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /azp/ });
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe('discovery failures and a provider that is down (a 502 page when clicking login)', () => {
  const cases: Array<[Fault, ErrorCode]> = [
    ['discovery-500', 'PROVIDER_BAD_RESPONSE'],
    ['discovery-garbage', 'PROVIDER_BAD_RESPONSE'],
    ['discovery-issuer-mismatch', 'PROVIDER_BAD_RESPONSE'],
  ];
  for (const [fault, code] of cases) {
    test(`${fault} → ${code}, and a later login works once the provider recovers`, async () => {
      await withRig({ fault }, async (rig) => {
        const browser = new HttpClient();
        const hop = await browser.get(authenticateUrl(rig.app));
        await assertRefused(rig, browser, hop, code);
        assert.equal(hop.location, null, 'not redirected anywhere');
        const flows = await rig.app.database.db.selectFrom('oidc_flows').selectAll().execute();
        assert.equal(flows.length, 0, 'no flow is stored');
        // A failed discovery is not cached.
        rig.op.setFault('none');
        const done = await login(rig, new HttpClient());
        assert.equal(done.status, 302, done.body.slice(0, 400));
        assert.equal(done.location, `${rig.app.url}/api/me`);
      });
    });
  }

  test('provider down (nothing listening) → 502 PROVIDER_UNREACHABLE', async () => {
    const port = await freePort();
    const app = await startTestApp({
      OIDC_ISSUER: `http://127.0.0.1:${port}/oauth2/default`,
      OIDC_RP_CLIENT_ID: 'test-client',
      OIDC_RP_CLIENT_SECRET: 'test-secret',
    });
    try {
      const browser = new HttpClient();
      const hop = await browser.get(authenticateUrl(app));
      const rig = { app } as Rig;
      await assertRefused(rig, browser, hop, 'PROVIDER_UNREACHABLE');
    } finally {
      await app.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('signing keys: kid absent, unknown kid, rotation', () => {
  test('kid absent with a single key in the JWKS is accepted', async () => {
    await withRig({ fault: 'kid-absent-single-key' }, async (rig) => {
      const done = await login(rig, new HttpClient());
      assert.equal(done.status, 302, done.body.slice(0, 400));
      assert.equal(done.location, `${rig.app.url}/api/me`);
    });
  });

  test('kid absent with several keys in the JWKS is refused', async () => {
    await withRig({ fault: 'kid-absent-multiple-keys' }, async (rig) => {
      const browser = new HttpClient();
      await assertRefused(rig, browser, await login(rig, browser), 'ID_TOKEN_INVALID', { message: /kid/ });
    });
  });

  test('an unknown kid after key rotation is accepted at once; re-fetches are rate-limited', async () => {
    await withRig({}, async (rig) => {
      // First login: discovery and the JWKS are fetched and cached.
      const first = await login(rig, new HttpClient());
      assert.equal(first.status, 302, first.body.slice(0, 400));
      assert.equal(jwksFetches(rig.op), 1);
      assert.equal(discoveryFetches(rig.op), 1);

      // A second login with known keys fetches nothing again.
      const second = await login(rig, new HttpClient());
      assert.equal(second.status, 302, second.body.slice(0, 400));
      assert.equal(jwksFetches(rig.op), 1, 'the JWKS is cached');
      assert.equal(discoveryFetches(rig.op), 1, 'discovery is cached');

      // The provider rotates its key: the new kid is unknown, one re-fetch finds it.
      rig.op.setFault('unknown-kid-then-rotate');
      const rotated = await login(rig, new HttpClient());
      assert.equal(rotated.status, 302, `rotation accepted: ${rotated.body.match(/Error code: [A-Z_]+/)?.[0] ?? rotated.body.slice(0, 400)}`);
      assert.equal(jwksFetches(rig.op), 2, 'exactly one re-fetch for the new kid');

      // Repeated unknown kids within the cooldown window: no more fetches, and the logins are refused.
      for (let i = 0; i < 3; i++) {
        const browser = new HttpClient();
        const hop = await login(rig, browser);
        await assertRefused(rig, browser, hop, 'ID_TOKEN_INVALID', { before: await counts(rig.app) });
      }
      assert.equal(jwksFetches(rig.op), 2, `no more than one JWKS fetch per ${JWKS_COOLDOWN_MS} ms cooldown`);
    });
  });

  test('concurrent logins with the same new kid share one re-fetch and all succeed', async () => {
    await withRig({}, async (rig) => {
      assert.equal((await login(rig, new HttpClient())).status, 302);
      assert.equal(jwksFetches(rig.op), 1);
      await rig.op.rotateKeys(); // the fake now signs with a kid the app has never seen
      const results = await Promise.all(Array.from({ length: 5 }, () => login(rig, new HttpClient())));
      for (const hop of results) assert.equal(hop.status, 302, hop.body.match(/Error code: [A-Z_]+/)?.[0] ?? hop.body.slice(0, 300));
      assert.equal(jwksFetches(rig.op), 2, 'one re-fetch for all of them');
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe('client authentication follows the provider metadata', () => {
  test('client_secret_post when the provider supports only that', async () => {
    await withRig({ op: { tokenEndpointAuthMethod: 'client_secret_post' } }, async (rig) => {
      const browser = new HttpClient();
      const done = await login(rig, browser);
      assert.equal(done.status, 302, done.body.slice(0, 400));
      assert.equal(done.location, `${rig.app.url}/api/me`);
      const me = await browser.get(done.location!, { accept: 'application/json' });
      assert.equal(me.status, 200);
    });
  });
});
