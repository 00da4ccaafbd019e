// Signing in at the development provider without a browser: an authorization request with PKCE,
// and the walk through the provider's login form back to the client's redirect URI.
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';
import type { HttpClient } from './http-client.ts';

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
 * Opens `authorizationUrl`, follows the provider's redirects, signs in once on its login form when
 * it shows (with `credentials`), approves its second step when it asks for one (unless
 * `approveSecondStep` is false), and returns the redirect to `redirectUri` (with `code`, or `error`)
 * without fetching it.
 */
export async function signIn(browser: HttpClient, authorizationUrl: string | URL, redirectUri: string,
  credentials?: { email: string; password: string } | null, options: { approveSecondStep?: boolean } = {}): Promise<URL> {
  let hop = await browser.get(String(authorizationUrl));
  for (let step = 0; step < 15; step++) {
    if (hop.location?.startsWith(redirectUri)) return new URL(hop.location);
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      hop = await browser.get(hop.location);
      continue;
    }
    const action = /<form method="post" action="([^"]+)"/.exec(hop.body)?.[1];
    if (hop.status === 200 && action?.endsWith('/second-step') && options.approveSecondStep !== false) {
      hop = await browser.post(new URL(action, hop.url).href, {});
      continue;
    }
    if (hop.status !== 200 || !credentials || !action || !/name="password"/.test(hop.body)) break;
    hop = await browser.post(new URL(action.replace(/&amp;/g, '&'), hop.url).href, credentials);
    credentials = null;
  }
  throw new Error(`sign-in stopped at ${hop.url} with status ${hop.status}`);
}
