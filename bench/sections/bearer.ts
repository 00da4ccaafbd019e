import { DatabaseSync } from 'node:sqlite';
import { SessionTokens } from '../../src/rp/session-tokens.ts';
import type { StoredTokens } from '../../src/sessions/index.ts';
import { countersOf } from '../lib/counters.ts';
import type { Options } from '../lib/options.ts';
import type { Stack } from '../lib/stack.ts';
import { interleaved, type LoadSummary } from './http-load.ts';

/**
 * alice's access token, from her oidc-connect session row (the provider's JWT for api://default):
 * rows keep their tokens sealed under SESSION_SECRET, so the bench opens them as the app does.
 */
export async function aliceAccessToken(stack: Stack): Promise<string> {
  const db = new DatabaseSync(stack.oursDatabase, { readOnly: true });
  try {
    const row = db.prepare("SELECT data FROM sessions WHERE provider = 'default' ORDER BY created DESC LIMIT 1").get() as { data: string } | undefined;
    const tokens = row ? await new SessionTokens(stack.sessionSecret).open(JSON.parse(row.data) as StoredTokens) : undefined;
    if (!tokens?.accessToken) throw new Error('no access token in oidc-connect\'s sessions');
    return tokens.accessToken;
  } finally {
    db.close();
  }
}

async function check(url: string, token: string, label: string): Promise<void> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.text();
  if (response.status !== 200 || !body.includes('"sub"') && !body.includes('"auth":"bearer"')) {
    throw new Error(`${label}: GET /api/me with the access token answered ${response.status}: ${body.slice(0, 300)}`);
  }
}

/**
 * 3. `/api/me` with a JWT access token (signature, iss, aud, exp, typ checks with jose against the
 * cached JWKS, then the (issuer, sub) -> user lookup), against a bare route that only runs jose's
 * jwtVerify with a local key (the ceiling).
 */
export async function bearerSection(stack: Stack, options: Options): Promise<{ token: string; results: Map<string, LoadSummary> }> {
  const token = await aliceAccessToken(stack);
  const headers = { authorization: `Bearer ${token}` };
  const targets = [
    { key: 'bare', label: 'jose jwtVerify, local key (ceiling)', url: `${stack.bare.url}/api/me`, pid: stack.bare.child.pid },
    { key: 'ours', label: 'oidc-connect /api/me', url: `${stack.ours.url}/api/me`, pid: stack.ours.child.pid, counters: countersOf(stack.ours.child, 'bearer') },
  ];
  const results = await interleaved('bearer', targets.map((t) => ({ ...t, headers, before: () => check(t.url, token, t.label) })), options);
  return { token, results };
}
