import type { Env } from './env.ts';
import { Problems, isLoopbackHost, text } from './parse.ts';

/** A custom authorization server's id, as Okta shows it under Security → API → Authorization Servers. */
const SERVER_ID = /^[A-Za-z0-9]{1,64}$/;

/**
 * The seed's OKTA_DOMAIN, with OKTA_AUTHORIZATION_SERVER choosing which of the org's servers:
 * `default` (the default) gives https://{domain}/oauth2/default, `org` the org authorization server
 * https://{domain}, and a custom server's id https://{domain}/oauth2/{id}. undefined after a problem.
 */
export function oktaIssuer(env: Env, problems: Problems, oktaDomain: string): string | undefined {
  const domain = oktaDomain.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const server = authorizationServer(env, problems);
  if (!/^[a-z0-9.-]+(:\d+)?$/i.test(domain)) {
    problems.add('OKTA_DOMAIN', oktaDomain, 'must be a host name such as dev-123456.okta.com');
    return undefined;
  }
  if (server === undefined) return undefined;
  const origin = `${isLoopbackHost(domain.replace(/:\d+$/, '')) ? 'http' : 'https'}://${domain}`;
  return server === 'org' ? origin : `${origin}/oauth2/${server}`;
}

function authorizationServer(env: Env, problems: Problems): string | undefined {
  const raw = text(env, 'OKTA_AUTHORIZATION_SERVER') ?? 'default';
  const keyword = raw.toLowerCase();
  if (keyword === 'default' || keyword === 'org') return keyword;
  if (SERVER_ID.test(raw)) return raw;
  problems.add('OKTA_AUTHORIZATION_SERVER', raw,
    'must be default, org, or the id of a custom authorization server such as aus1a2b3c4d5e6f7g8h9 (Security → API → Authorization Servers in the Okta Admin Console)');
  return undefined;
}
