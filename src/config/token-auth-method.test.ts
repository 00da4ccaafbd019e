import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';
import type { ProviderConfig } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-token-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const issuer = { OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's' };

function load(env: Record<string, string>, cwd = dir): { providers: readonly ProviderConfig[]; problems: string[] } {
  try {
    return { providers: loadConfig({ cwd, env }).providers, problems: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { providers: [], problems: [...error.problems] };
    throw error;
  }
}

test('OIDC_RP_TOKEN_AUTH_METHOD: unset leaves the choice to the provider client; basic or post are kept', () => {
  assert.equal(load(issuer).providers[0]!.tokenAuthMethod, undefined);
  assert.equal(load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post' }).providers[0]!.tokenAuthMethod, 'client_secret_post');
  assert.equal(load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_basic' }).providers[0]!.tokenAuthMethod, 'client_secret_basic');
  assert.equal(load({ OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post' }).providers[0]!.tokenAuthMethod, 'client_secret_post', 'the development provider too');
});

test('a bad OIDC_RP_TOKEN_AUTH_METHOD is one line naming the variable and the allowed values', () => {
  for (const bad of ['post', 'tls_client_auth', 'CLIENT_SECRET_POST']) {
    assert.deepEqual(load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: bad }).problems,
      [`OIDC_RP_TOKEN_AUTH_METHOD=${bad}: must be client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt`]);
  }
});

test('client_secret_jwt is accepted and, like basic and post, needs OIDC_RP_CLIENT_SECRET', () => {
  assert.equal(load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_jwt' }).providers[0]!.tokenAuthMethod, 'client_secret_jwt');
  const { OIDC_RP_CLIENT_SECRET: _secret, ...noSecret } = issuer;
  assert.deepEqual(load({ ...noSecret, OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_jwt' }).problems.map((p) => p.split(':')[0]), ['OIDC_RP_CLIENT_SECRET']);
});

test('oidc-connect.config.json: tokenAuthMethod per provider, checked the same way', () => {
  const fileDir = mkdtempSync(join(dir, 'file-'));
  writeFileSync(join(fileDir, 'oidc-connect.config.json'), JSON.stringify({ providers: [
    { id: 'lemon', issuer: 'https://auth.example.com/', clientId: 'my-app', clientSecret: 's', tokenAuthMethod: 'client_secret_post' },
    { id: 'okta', issuer: 'https://dev-1.okta.com/oauth2/default', clientId: 'c', clientSecret: 's' },
  ] }));
  const { providers } = load({}, fileDir);
  assert.deepEqual(providers.map((p) => p.tokenAuthMethod), ['client_secret_post', undefined]);

  writeFileSync(join(fileDir, 'oidc-connect.config.json'), JSON.stringify({ providers: [
    { id: 'lemon', issuer: 'https://auth.example.com/', clientId: 'my-app', clientSecret: 's', tokenAuthMethod: 'basic' },
  ] }));
  assert.deepEqual(load({}, fileDir).problems,
    ['oidc-connect.config.json providers[0].tokenAuthMethod=basic: must be client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt']);
});
