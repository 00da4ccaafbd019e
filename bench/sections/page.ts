import { countersOf } from '../lib/counters.ts';
import type { Options } from '../lib/options.ts';
import { checkPage, type Stack } from '../lib/stack.ts';
import { interleaved, type LoadSummary } from './http-load.ts';

/**
 * 1. The home page for a logged-in user: oidc-connect (session lookup, user, form token, template),
 * the same page from the peers, the floor (the same page with only the work a signed-in page must
 * do, each part the cheapest known way: the ceiling) and bare Fastify serving the same bytes.
 */
export async function pageSection(stack: Stack, options: Options): Promise<Map<string, LoadSummary>> {
  const apps = [stack.floor, stack.bare, stack.ours, stack.okta, stack.eoc];
  return interleaved('page', apps.map((app) => ({
    key: app.key,
    label: app.label,
    url: `${app.url}/`,
    pid: app.child.pid,
    ...(app.cookie ? { headers: { cookie: app.cookie } } : {}),
    ...(app === stack.ours ? { counters: countersOf(app.child, 'session') } : {}),
    before: () => checkPage(app),
  })), options);
}
