import type { Options } from '../lib/options.ts';
import { checkPage, type Stack } from '../lib/stack.ts';
import { interleaved, type LoadSummary } from './http-load.ts';

/**
 * 1. The home page for a logged-in user: oidc-connect (session row lookup, user, CSRF token,
 * template), the same page from the peers, and the bare Fastify ceiling serving the same bytes.
 */
export async function pageSection(stack: Stack, options: Options): Promise<Map<string, LoadSummary>> {
  const apps = [stack.bare, stack.ours, stack.okta, stack.eoc];
  return interleaved('page', apps.map((app) => ({
    key: app.key,
    label: app.label,
    url: `${app.url}/`,
    pid: app.child.pid,
    ...(app.cookie ? { headers: { cookie: app.cookie } } : {}),
    before: () => checkPage(app),
  })), options);
}
