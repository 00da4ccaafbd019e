import type { ServerMetadata } from '../rp/provider.ts';
import type { Config, ProviderConfig } from '../config/index.ts';

/** One line of `check`: PROBLEM fails it; WARN and NOTE only inform. */
export interface Finding {
  readonly level: 'PROBLEM' | 'WARN' | 'NOTE';
  readonly line: string;
}

type Host = 'okta' | 'entra' | 'google';

const RECIPES: Record<Host, { name: string; doc: string }> = {
  okta: { name: 'Okta', doc: 'docs/providers/okta.md' },
  entra: { name: 'Microsoft Entra ID', doc: 'docs/providers/entra-id.md' },
  google: { name: 'Google', doc: 'docs/providers/google.md' },
};

/** The providers whose needs we know from their issuer's host alone. */
export function issuerHost(issuer: string): Host | undefined {
  const host = new URL(issuer).hostname;
  if (/\.(okta|oktapreview|okta-emea)\.com$/.test(host)) return 'okta';
  if (host === 'login.microsoftonline.com') return 'entra';
  if (host === 'accounts.google.com') return 'google';
  return undefined;
}

/**
 * What `check` can tell about a provider beyond what discovery says outright: what its issuer's
 * host implies (Okta's server kinds, Entra ID's multi-tenant issuers, Google's missing endpoints),
 * scopes the provider does not list, and whether OIDC_REQUIRED_GROUPS can ever be met.
 */
export function providerFindings(provider: ProviderConfig, config: Config, metadata: ServerMetadata): Finding[] {
  const host = issuerHost(provider.issuer);
  const findings: Finding[] = [];
  const add = (level: Finding['level'], text: string) => findings.push({ level, line: `${provider.name}: ${text}` });
  if (host) add('NOTE', `the issuer's host says this is ${RECIPES[host].name}; the notes below come from that (see ${RECIPES[host].doc})`);
  const scopes = new Set(provider.scopes);
  const groups = config.provisioning.requiredGroups.length > 0;

  if (host === 'okta') {
    const server = new URL(provider.issuer).pathname.match(/^\/oauth2\/([^/]+)/)?.[1];
    if (!server) {
      add('NOTE', "the org authorization server: its access tokens are for Okta's own APIs, so requireBearer refuses them; protect your APIs with a custom server (OKTA_AUTHORIZATION_SERVER=default)");
    } else if (server !== 'default' && config.apiAudience === 'api://default') {
      add('WARN', `OIDC_API_AUDIENCE is api://default, the default server's audience; set it to the Audience of the server ${server} for bearer tokens`);
    }
    if (groups) {
      add('WARN', server
        ? 'OIDC_REQUIRED_GROUPS needs a groups claim: Security → API → Authorization Servers → Claims → Add Claim groups (value type Groups, filter Matches regex .*), or everyone is refused'
        : 'OIDC_REQUIRED_GROUPS needs a groups claim: the app\'s Sign On tab → Groups claim filter (groups, Matches regex .*), or everyone is refused');
      if (!server && !scopes.has('groups')) add('WARN', 'the org server sends the groups claim only for the groups scope: add groups to OIDC_RP_SCOPES');
    }
    if (scopes.has('offline_access')) add('NOTE', `offline_access needs the Refresh Token grant type on the app${server ? ', and an access-policy rule of the server that allows it' : ''}`);
  } else if (host === 'entra') {
    const tenant = new URL(provider.issuer).pathname.split('/')[1] ?? '';
    if (['common', 'organizations', 'consumers'].includes(tenant.toLowerCase())) {
      add('WARN', `the multi-tenant issuer "${tenant}" lets anyone from any Entra tenant sign in, and bearer tokens fail its issuer check; use https://login.microsoftonline.com/{tenant-id}/v2.0`);
    }
    if (config.provisioning.allowedEmailDomains.length > 0) add('WARN', 'Entra ID sends no email_verified, so OIDC_ALLOWED_EMAIL_DOMAINS refuses everyone; restrict by tenant and groups instead');
    if (config.provisioning.linkByEmail) add('NOTE', 'Entra ID sends no email_verified, so OIDC_LINK_BY_EMAIL never links an existing user');
    const names = config.provisioning.requiredGroups.filter((g) => !/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(g));
    if (names.length > 0) add('WARN', `Entra ID's groups claim holds group object ids (GUIDs), so OIDC_REQUIRED_GROUPS must list those, not ${names.join(', ')}`);
  } else if (host === 'google') {
    if (scopes.has('offline_access')) {
      findings.push({ level: 'PROBLEM', line: 'OIDC_RP_SCOPES: Google refuses offline_access (invalid_scope); remove it. Google gives refresh tokens only with access_type=offline, which oidc-connect does not send' });
      scopes.delete('offline_access'); // said here; not again as an unlisted scope
    }
    add('NOTE', `no refresh tokens (they need access_type=offline), so sessions are confirmed with a silent prompt=none request every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS (${config.renewIdTokenExpirySeconds})`);
    add('NOTE', 'no end_session_endpoint and no introspection: logout stays local, and Google access tokens can only be checked at userinfo');
    if (groups) findings.push({ level: 'PROBLEM', line: 'OIDC_REQUIRED_GROUPS: Google sends no groups claim, so everyone would be refused; leave it unset' });
  }

  if (groups && host !== 'okta' && host !== 'google') {
    const claims = metadata.claims_supported;
    if (!claims?.includes('groups')) {
      add('WARN', `OIDC_REQUIRED_GROUPS needs a groups claim (a list of group names), which the provider does not list in claims_supported; unless it sends one, everyone is refused`);
    }
  }
  const listed = metadata.scopes_supported;
  const unlisted = listed ? [...scopes].filter((s) => !listed.includes(s)) : [];
  if (unlisted.length > 0) {
    add('WARN', `the provider does not list ${unlisted.join(', ')} in scopes_supported (OIDC_RP_SCOPES); many list only the standard scopes, so this matters only if sign-in fails with invalid_scope`);
  }
  const method = provider.tokenAuthMethod;
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (method && methods && !methods.includes(method)) {
    add('WARN', `OIDC_RP_TOKEN_AUTH_METHOD is ${method}, which the provider does not list (it lists ${methods.join(', ')})`);
  }
  return findings;
}

/** A discovery failure at an Okta custom server is often a production org without API Access Management. */
export function discoveryHint(provider: ProviderConfig): string {
  if (issuerHost(provider.issuer) !== 'okta' || !new URL(provider.issuer).pathname.startsWith('/oauth2/')) return '';
  return ' (custom authorization servers need API Access Management; without it use the org server: OKTA_AUTHORIZATION_SERVER=org)';
}
