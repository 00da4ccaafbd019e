import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-okta-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const okta = { OKTA_DOMAIN: 'dev-123456.okta.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's' };

/** The issuer loadConfig builds, or its problems. */
function load(env: Record<string, string>): { issuer?: string; problems: string[] } {
  try {
    const provider = loadConfig({ cwd: dir, env }).providers[0];
    return { issuer: provider?.issuer, problems: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { problems: [...error.problems] };
    throw error;
  }
}

test('OKTA_AUTHORIZATION_SERVER picks the server: default (the default), org, or a custom id', () => {
  assert.equal(load(okta).issuer, 'https://dev-123456.okta.com/oauth2/default');
  assert.equal(load({ ...okta, OKTA_AUTHORIZATION_SERVER: 'default' }).issuer, 'https://dev-123456.okta.com/oauth2/default');
  assert.equal(load({ ...okta, OKTA_AUTHORIZATION_SERVER: 'org' }).issuer, 'https://dev-123456.okta.com');
  assert.equal(load({ ...okta, OKTA_AUTHORIZATION_SERVER: 'ORG' }).issuer, 'https://dev-123456.okta.com', 'the keywords in any case');
  assert.equal(load({ ...okta, OKTA_AUTHORIZATION_SERVER: 'aus1a2b3c4d5e6f7g8h9' }).issuer, 'https://dev-123456.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9');
  assert.equal(load({ ...okta, OKTA_DOMAIN: 'https://dev-1.okta.com/', OKTA_AUTHORIZATION_SERVER: 'org' }).issuer, 'https://dev-1.okta.com');
  assert.equal(load({ ...okta, OKTA_DOMAIN: 'localhost:9000', OKTA_AUTHORIZATION_SERVER: 'org' }).issuer, 'http://localhost:9000');
});

test('a bad OKTA_AUTHORIZATION_SERVER is one line naming the variable and the allowed values', () => {
  for (const bad of ['/oauth2/default', 'https://dev-1.okta.com/oauth2/default', 'aus 1', 'aus1?x=1']) {
    const { problems } = load({ ...okta, OKTA_AUTHORIZATION_SERVER: bad });
    assert.equal(problems.length, 1, `${bad}: ${problems.join('\n')}`);
    assert.match(problems[0]!, /^OKTA_AUTHORIZATION_SERVER=.*: must be default, org, or the id of a custom authorization server such as aus1a2b3c4d5e6f7g8h9/);
  }
  const both = load({ ...okta, OKTA_DOMAIN: 'not a host', OKTA_AUTHORIZATION_SERVER: 'o/rg' }).problems;
  assert.equal(both.length, 2, both.join('\n'));
});

test('OIDC_ISSUER wins over OKTA_DOMAIN and OKTA_AUTHORIZATION_SERVER; the server alone is a problem', () => {
  assert.equal(load({ ...okta, OKTA_AUTHORIZATION_SERVER: 'org', OIDC_ISSUER: 'https://id.example.com' }).issuer, 'https://id.example.com');
  const { problems } = load({ OKTA_AUTHORIZATION_SERVER: 'org' });
  assert.deepEqual(problems, ['OKTA_AUTHORIZATION_SERVER=org: is used only with OKTA_DOMAIN; set OKTA_DOMAIN too']);
});

test('the provider is named Okta for OKTA_DOMAIN and the development provider, by OIDC_PROVIDER_NAME when set, else by the OIDC_ISSUER host, with the button still "Okta"', () => {
  const provider = (env: Record<string, string>) => {
    const { name, label } = loadConfig({ cwd: dir, env }).providers[0]!;
    return { name, label };
  };
  const generic = { OIDC_ISSUER: 'https://accounts.example.com:8443/realms/main', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's' };
  assert.deepEqual(provider(okta), { name: 'Okta', label: undefined });
  assert.deepEqual(provider({}), { name: 'Okta', label: undefined }, 'the development provider');
  assert.deepEqual(provider(generic), { name: 'accounts.example.com:8443', label: 'Okta' });
  assert.deepEqual(provider({ ...generic, OIDC_PROVIDER_NAME: 'Keycloak' }), { name: 'Keycloak', label: undefined });
});
