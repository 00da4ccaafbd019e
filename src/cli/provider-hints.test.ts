import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ServerMetadata } from '../rp/provider.ts';
import { loadConfig } from '../config/index.ts';
import { discoveryHint, issuerHost, providerFindings, type Finding } from './provider-hints.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-hints-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The findings for the provider this environment configures, against this discovery document. */
function findings(env: Record<string, string>, metadata: Partial<ServerMetadata> = {}): Finding[] {
  const config = loadConfig({ cwd: dir, env: { OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's', ...env } });
  return providerFindings(config.providers[0]!, config, { issuer: config.providers[0]!.issuer, ...metadata });
}
const lines = (list: Finding[], level: Finding['level']) => list.filter((f) => f.level === level).map((f) => f.line);

test('the issuer host tells Okta, Entra ID and Google apart, and nothing else', () => {
  assert.equal(issuerHost('https://dev-1.okta.com/oauth2/default'), 'okta');
  assert.equal(issuerHost('https://acme.oktapreview.com'), 'okta');
  assert.equal(issuerHost('https://login.microsoftonline.com/t/v2.0'), 'entra');
  assert.equal(issuerHost('https://accounts.google.com'), 'google');
  for (const other of ['https://okta.com.evil.example', 'https://notokta.com', 'https://auth.example.com/', 'http://localhost:9000/oauth2/default']) {
    assert.equal(issuerHost(other), undefined, other);
  }
});

test('Okta: the kind of server is said, and OIDC_REQUIRED_GROUPS warns about the groups claim filter', () => {
  const custom = findings({ OKTA_DOMAIN: 'dev-1.okta.com', OIDC_REQUIRED_GROUPS: 'Engineering' });
  assert.match(lines(custom, 'NOTE')[0]!, /^Okta: the issuer's host says this is Okta; .*docs\/providers\/okta\.md/);
  assert.match(lines(custom, 'WARN').join('\n'), /OIDC_REQUIRED_GROUPS needs a groups claim: Security → API → Authorization Servers → Claims/);
  assert.deepEqual(lines(custom, 'PROBLEM'), []);

  const org = findings({ OKTA_DOMAIN: 'dev-1.okta.com', OKTA_AUTHORIZATION_SERVER: 'org', OIDC_REQUIRED_GROUPS: 'Engineering' });
  assert.match(lines(org, 'NOTE').join('\n'), /the org authorization server: its access tokens are for Okta's own APIs/);
  assert.match(lines(org, 'WARN').join('\n'), /Sign On tab → Groups claim filter/);
  assert.match(lines(org, 'WARN').join('\n'), /add groups to OIDC_RP_SCOPES/);
  const withScope = findings({ OKTA_DOMAIN: 'dev-1.okta.com', OKTA_AUTHORIZATION_SERVER: 'org', OIDC_REQUIRED_GROUPS: 'E', OIDC_RP_SCOPES: 'openid email profile groups' });
  assert.doesNotMatch(lines(withScope, 'WARN').join('\n'), /add groups to OIDC_RP_SCOPES/);

  const own = findings({ OKTA_DOMAIN: 'dev-1.okta.com', OKTA_AUTHORIZATION_SERVER: 'aus1a2b3c4d5e6f7g8h9' });
  assert.match(lines(own, 'WARN').join('\n'), /OIDC_API_AUDIENCE is api:\/\/default, .* the server aus1a2b3c4d5e6f7g8h9/);
  assert.deepEqual(lines(findings({ OKTA_DOMAIN: 'dev-1.okta.com', OKTA_AUTHORIZATION_SERVER: 'aus1', OIDC_API_AUDIENCE: 'api://mine' }), 'WARN'), []);
  assert.deepEqual(lines(findings({ OKTA_DOMAIN: 'dev-1.okta.com' }), 'WARN'), [], 'the default server with no groups: nothing to warn about');
});

test('Entra ID: multi-tenant issuers, email_verified and group GUIDs', () => {
  for (const tenant of ['common', 'organizations']) {
    const found = findings({ OIDC_ISSUER: `https://login.microsoftonline.com/${tenant}/v2.0` });
    assert.match(lines(found, 'WARN').join('\n'), new RegExp(`the multi-tenant issuer "${tenant}" lets anyone from any Entra tenant sign in`));
  }
  const single = findings({ OIDC_ISSUER: 'https://login.microsoftonline.com/8f2a1c3e-0000-4000-8000-000000000000/v2.0', OIDC_ALLOWED_EMAIL_DOMAINS: 'contoso.com', OIDC_REQUIRED_GROUPS: 'Staff,0b1c2d3e-0000-4000-8000-000000000000' });
  const warned = lines(single, 'WARN').join('\n');
  assert.doesNotMatch(warned, /multi-tenant/);
  assert.match(warned, /OIDC_ALLOWED_EMAIL_DOMAINS refuses everyone/);
  assert.match(warned, /must list those, not Staff$/m);
});

test('Google: offline_access and OIDC_REQUIRED_GROUPS are problems; refresh and logout are explained', () => {
  const found = findings({ OIDC_ISSUER: 'https://accounts.google.com', OIDC_RP_SCOPES: 'openid email profile offline_access', OIDC_REQUIRED_GROUPS: 'staff' },
    { scopes_supported: ['openid', 'email', 'profile'] });
  assert.deepEqual(lines(found, 'PROBLEM').map((l) => l.split(':')[0]), ['OIDC_RP_SCOPES', 'OIDC_REQUIRED_GROUPS']);
  assert.match(lines(found, 'NOTE').join('\n'), /access_type=offline.*prompt=none/);
  assert.match(lines(found, 'NOTE').join('\n'), /no end_session_endpoint and no introspection/);
  assert.deepEqual(lines(found, 'WARN'), [], 'offline_access is not reported twice');
});

test('any provider: unlisted scopes and an unlisted OIDC_RP_TOKEN_AUTH_METHOD are warnings, and so is a groups claim it does not list', () => {
  const found = findings({ OIDC_ISSUER: 'https://auth.example.com/', OIDC_RP_SCOPES: 'openid email profile groups', OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post', OIDC_REQUIRED_GROUPS: 'timelords' },
    { scopes_supported: ['openid', 'email', 'profile'], token_endpoint_auth_methods_supported: ['client_secret_basic'], claims_supported: ['sub', 'email'] });
  assert.deepEqual(lines(found, 'PROBLEM'), []);
  assert.deepEqual(lines(found, 'NOTE'), []);
  const warned = lines(found, 'WARN');
  assert.equal(warned.length, 3, warned.join('\n'));
  assert.match(warned.join('\n'), /does not list groups in scopes_supported/);
  assert.match(warned.join('\n'), /OIDC_RP_TOKEN_AUTH_METHOD is client_secret_post, which the provider does not list/);
  assert.match(warned.join('\n'), /OIDC_REQUIRED_GROUPS needs a groups claim/);
  const listed = findings({ OIDC_ISSUER: 'https://auth.example.com/', OIDC_REQUIRED_GROUPS: 'timelords' }, { claims_supported: ['sub', 'groups'] });
  assert.deepEqual(lines(listed, 'WARN'), [], 'a provider that lists groups in claims_supported');
});

test('a discovery failure at an Okta custom server points at the org server', () => {
  const config = (env: Record<string, string>) => loadConfig({ cwd: dir, env: { OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's', ...env } }).providers[0]!;
  assert.match(discoveryHint(config({ OKTA_DOMAIN: 'acme.okta.com' })), /API Access Management.*OKTA_AUTHORIZATION_SERVER=org/);
  assert.equal(discoveryHint(config({ OKTA_DOMAIN: 'acme.okta.com', OKTA_AUTHORIZATION_SERVER: 'org' })), '');
  assert.equal(discoveryHint(config({ OIDC_ISSUER: 'https://auth.example.com/oauth2/x' })), '');
});
