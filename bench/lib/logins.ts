import { createHash, randomBytes } from 'node:crypto';
import { Browser, type Answer } from './http.ts';

export interface Credentials {
  email: string;
  password: string;
}

/** How an app starts and ends its code flow. */
export interface AppLoginTarget {
  /** The app route that starts the flow (302 to the provider). */
  startUrl: string;
  /** The app's redirect URI; its answer ends the login. */
  callbackUrl: string;
  /** The cookie that carries the app session once logged in. */
  sessionCookie: string;
}

const LOGIN_FORM = /<form[^>]*method="post"[^>]*action="([^"]+)"/i;

/** The provider's login page: posts the credentials to the form's action. */
function isLoginForm(hop: Answer): boolean {
  return hop.status === 200 && hop.body.includes('name="password"');
}

async function submitLogin(browser: Browser, hop: Answer, credentials: Credentials): Promise<Answer> {
  const action = LOGIN_FORM.exec(hop.body)?.[1];
  if (!action) throw new Error(`no login form action at ${hop.url}`);
  return browser.post(new URL(action.replace(/&amp;/g, '&'), hop.url).href, { ...credentials });
}

/**
 * Follows redirects from `first`, filling in the provider's login form once, until a redirect goes
 * to `stopAt` (not followed). Returns that redirect's Location.
 */
export async function throughProvider(browser: Browser, first: Answer, stopAt: string, credentials: Credentials): Promise<string> {
  let hop = first;
  let credentialsUsed = false;
  for (let steps = 0; steps < 20; steps++) {
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      if (hop.location.startsWith(stopAt)) return hop.location;
      hop = await browser.get(hop.location);
    } else if (isLoginForm(hop) && !credentialsUsed) {
      credentialsUsed = true;
      hop = await submitLogin(browser, hop, credentials);
    } else {
      throw new Error(`login stopped at ${hop.url}: ${hop.status} ${hop.body.slice(0, 200).replace(/\s+/g, ' ')}`);
    }
  }
  throw new Error('login: too many redirects');
}

/**
 * One complete login through an app, as a new browser: the app's start route, the provider's
 * authorize and login form, back to the app's callback, which must answer with a redirect and the
 * session cookie. Returns the browser (logged in).
 */
export async function appLogin(target: AppLoginTarget, credentials: Credentials, browser = new Browser()): Promise<Browser> {
  const start = await browser.get(target.startUrl);
  if (start.status < 300 || start.status >= 400) throw new Error(`${target.startUrl} answered ${start.status}`);
  const callback = await throughProvider(browser, start, target.callbackUrl, credentials);
  const done = await browser.get(callback);
  if (done.status < 300 || done.status >= 400 || !done.setCookies.some((c) => c.startsWith(`${target.sessionCookie}=`))) {
    throw new Error(`callback answered ${done.status} without ${target.sessionCookie}: ${done.body.slice(0, 300).replace(/\s+/g, ' ')}`);
  }
  return browser;
}

export interface ProviderEndpoints {
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
}

export interface ProviderClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/**
 * The provider's share of one login, without any app: the same authorize request (PKCE, state,
 * nonce), login form, code, token exchange (client_secret_basic) and userinfo call. The client
 * checks nothing itself, so this is what the provider alone costs.
 */
export async function providerOnlyLogin(endpoints: ProviderEndpoints, client: ProviderClient, credentials: Credentials): Promise<void> {
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(endpoints.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope: 'openid email profile',
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const first = await browser.get(url.href);
  const callback = await throughProvider(browser, first, client.redirectUri, credentials);
  const code = new URL(callback).searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback}`);
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
  const tokens = await browser.post(endpoints.token_endpoint, {
    grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier,
  }, { authorization: `Basic ${basic}`, accept: 'application/json' });
  if (tokens.status !== 200) throw new Error(`token endpoint answered ${tokens.status}: ${tokens.body}`);
  const { access_token: accessToken } = JSON.parse(tokens.body) as { access_token: string };
  const userinfo = await browser.get(endpoints.userinfo_endpoint, { authorization: `Bearer ${accessToken}`, accept: 'application/json' });
  if (userinfo.status !== 200) throw new Error(`userinfo answered ${userinfo.status}`);
}

export interface LoadResult {
  completed: number;
  errors: number;
  elapsedMs: number;
  firstError: string | undefined;
}

/** Runs `once` from `concurrency` workers until `durationMs` has passed; logins in flight finish. */
export async function loginLoad(concurrency: number, durationMs: number, once: () => Promise<unknown>): Promise<LoadResult> {
  const started = performance.now();
  const deadline = started + durationMs;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        await once();
        completed++;
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completed, errors, elapsedMs: performance.now() - started, firstError };
}
