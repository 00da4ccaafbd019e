// Helpers for tests that drive the development provider without a browser: a cookie jar, manual
// redirects, and a sign-in through the real login form. Test code only.
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';

/** Cookies by name: enough for one provider on one host (it scopes its cookies by path only). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', date = ''] = attribute.split('=');
        return key.trim().toLowerCase() === 'expires' && Date.parse(date) <= Date.now();
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  has(name: string): boolean {
    return this.#cookies.has(name);
  }
}

/** fetch without following redirects, sending and keeping cookies. */
export async function send(jar: CookieJar, url: string | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header();
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(response);
  return response;
}

export interface Followed {
  url: URL;
  response: Response;
}

/**
 * Follows redirects (GET) from `response` until `stop(url)` says so, or a page that does not
 * redirect. The stop URL is not fetched: it usually belongs to an app that is not running.
 */
export async function follow(jar: CookieJar, from: Followed, stop: (url: URL) => boolean, limit = 10): Promise<Followed> {
  let current = from;
  for (let hop = 0; hop < limit; hop++) {
    const location = current.response.headers.get('location');
    if (current.response.status < 300 || current.response.status >= 400 || !location) return current;
    await current.response.body?.cancel();
    const url = new URL(location, current.url);
    if (stop(url)) return { url, response: current.response };
    current = { url, response: await send(jar, url) };
  }
  throw new Error(`more than ${limit} redirects`);
}

export interface AuthorizationRequest {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export async function authorizationRequest(issuer: string, clientId: string, redirectUri: string,
  extra: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const state = randomState();
  const nonce = randomNonce();
  const codeVerifier = randomPKCECodeVerifier();
  const url = new URL(`${issuer}/v1/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    state,
    nonce,
    code_challenge: await calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url, state, nonce, codeVerifier };
}

/**
 * Opens `authorizationUrl`, signs in on the login form when it shows, and returns the redirect
 * to `redirectUri` (with `code`, or `error`) without fetching it.
 */
export async function signIn(jar: CookieJar, authorizationUrl: URL, redirectUri: string,
  credentials?: { email: string; password: string }): Promise<URL> {
  const isCallback = (url: URL): boolean => url.href.startsWith(redirectUri);
  let reached = await follow(jar, { url: authorizationUrl, response: await send(jar, authorizationUrl) }, isCallback);
  if (!isCallback(reached.url) && reached.url.pathname.startsWith('/interaction/') && credentials) {
    await reached.response.body?.cancel();
    const loginUrl = new URL(`${reached.url.pathname}/login`, reached.url);
    const posted = await send(jar, loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(credentials).toString(),
    });
    reached = await follow(jar, { url: loginUrl, response: posted }, isCallback);
  }
  if (!isCallback(reached.url)) {
    throw new Error(`sign-in stopped at ${reached.url.href} with status ${reached.response.status}`);
  }
  return reached.url;
}
