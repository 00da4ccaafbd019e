import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';
import type { ProviderConfig } from './types.ts';

// Every key here is made by openssl, outside the code under test.
const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-client-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

before(() => {
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.pem');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.pem');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'p384.pem');
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', 'rsa1024.pem');
  openssl('pkey', '-in', 'rsa.pem', '-pubout', '-out', 'rsa-public.pem');
  openssl('pkey', '-in', 'rsa.pem', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted.pem');
  writeFileSync(file('garbage.pem'), 'not a key\n');
});

const issuer = { OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c' };

function load(env: Record<string, string>, cwd = dir): { provider: ProviderConfig | undefined; problems: string[] } {
  try {
    return { provider: loadConfig({ cwd, env }).providers[0], problems: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { provider: undefined, problems: [...error.problems] };
    throw error;
  }
}

/** openssl's own account of an RSA key's modulus, as a JWK's base64url `n`. */
function modulusOf(pem: string): string {
  const hex = /Modulus=([0-9A-F]+)/.exec(openssl('rsa', '-in', pem, '-noout', '-modulus'))![1]!;
  return Buffer.from(hex, 'hex').toString('base64url');
}

test('private_key_jwt with a PEM: the key is read, and OIDC_RP_CLIENT_SECRET is not required', () => {
  const { provider, problems } = load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt', OIDC_RP_PRIVATE_KEY: 'rsa.pem' });
  assert.deepEqual(problems, []);
  assert.equal(provider!.tokenAuthMethod, 'private_key_jwt');
  assert.equal(provider!.clientSecret, undefined);
  assert.equal(provider!.privateKeys!.length, 1);
  const key = provider!.privateKeys![0]!;
  assert.equal(key.file, file('rsa.pem'));
  assert.equal(key.jwk.kty, 'RSA');
  assert.equal(key.jwk.n, modulusOf('rsa.pem'));
  assert.equal(typeof key.jwk.d, 'string', 'the private key, not only its public half');
  assert.equal(key.kid, undefined, 'a PEM names no kid: rp/ uses its thumbprint');
  assert.equal(provider!.settings!.credentials, 'OIDC_RP_CLIENT_ID / OIDC_RP_PRIVATE_KEY', 'a refused client points at the key');
});

test('OIDC_RP_PRIVATE_KEY alone means private_key_jwt; with a secret method it is only published', () => {
  assert.equal(load({ ...issuer, OIDC_RP_PRIVATE_KEY: 'ec.pem' }).provider!.tokenAuthMethod, 'private_key_jwt');
  const moving = load({ ...issuer, OIDC_RP_CLIENT_SECRET: 's', OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_basic', OIDC_RP_PRIVATE_KEY: 'ec.pem' }).provider!;
  assert.equal(moving.tokenAuthMethod, 'client_secret_basic');
  assert.equal(moving.privateKeys!.length, 1);
});

test('several key files, comma-separated: all kept in order (the first signs); a JWK keeps its kid and alg', () => {
  const ec = JSON.parse(execFileSync(process.execPath, ['-e', `
    const { createPrivateKey } = require('node:crypto');
    process.stdout.write(JSON.stringify(createPrivateKey(require('node:fs').readFileSync(${JSON.stringify(file('ec.pem'))}, 'utf8')).export({ format: 'jwk' })));
  `]).toString()) as Record<string, string>;
  writeFileSync(file('ec.jwk'), JSON.stringify({ ...ec, kid: 'ec-2025', alg: 'ES256' }));
  const { provider, problems } = load({ ...issuer, OIDC_RP_PRIVATE_KEY: 'ec.jwk, rsa.pem' });
  assert.deepEqual(problems, []);
  assert.deepEqual(provider!.privateKeys!.map((k) => [k.jwk.kty, k.kid, k.alg]), [['EC', 'ec-2025', 'ES256'], ['RSA', undefined, undefined]]);
  assert.equal(provider!.privateKeys![0]!.jwk.x, ec.x);
});

test('a missing, unreadable, public-only or unsupported key is one line naming OIDC_RP_PRIVATE_KEY', () => {
  const ecJwk = JSON.parse(readFileSync(file('ec.jwk'), 'utf8')) as Record<string, string>;
  const { d: _d, ...publicJwk } = ecJwk;
  writeFileSync(file('public.jwk'), JSON.stringify(publicJwk));
  writeFileSync(file('wrong-alg.jwk'), JSON.stringify({ ...ecJwk, alg: 'RS256' }));
  writeFileSync(file('set.jwk'), JSON.stringify({ keys: [ecJwk] }));
  const cases: [string, RegExp][] = [
    ['missing.pem', /cannot read .*missing\.pem \(ENOENT\); create one with: npx oidc-connect keygen/],
    ['rsa-public.pem', /holds a public key only/],
    ['public.jwk', /holds a public key only \(no "d"\)/],
    ['encrypted.pem', /holds an encrypted key; give it unencrypted/],
    ['p384.pem', /holds a key of type ec \(secp384r1\), which can't sign RS256, PS256 or ES256/],
    ['rsa1024.pem', /holds an RSA key of 1024 bits; at least 2048 are needed/],
    ['garbage.pem', /is not a PEM private key/],
    ['wrong-alg.jwk', /has "alg" RS256, which does not fit its EC key; use ES256/],
    ['set.jwk', /is a key set; give one JWK per file/],
  ];
  for (const [name, expected] of cases) {
    const { problems } = load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt', OIDC_RP_PRIVATE_KEY: name });
    assert.equal(problems.length, 1, `${name}: ${problems.join(' | ')}`);
    assert.ok(problems[0]!.startsWith(`OIDC_RP_PRIVATE_KEY=${name}: `), problems[0]);
    assert.match(problems[0]!, expected);
  }
});

test('private_key_jwt without OIDC_RP_PRIVATE_KEY is one line saying how to make a key', () => {
  assert.deepEqual(load({ ...issuer, OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt' }).problems,
    ['OIDC_RP_PRIVATE_KEY: is required with OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt; create a key with: npx oidc-connect keygen']);
});

test('OIDC_USE_PAR is auto, on or off (auto by default); OIDC_DPOP is off by default', () => {
  const base = { ...issuer, OIDC_RP_CLIENT_SECRET: 's' };
  assert.deepEqual([load(base).provider!.par, load(base).provider!.dpop], ['auto', false]);
  assert.deepEqual([load({ ...base, OIDC_USE_PAR: 'ON', OIDC_DPOP: 'on' }).provider!.par, load({ ...base, OIDC_DPOP: 'on' }).provider!.dpop], ['on', true]);
  assert.deepEqual(load({ ...base, OIDC_USE_PAR: 'always' }).problems, ['OIDC_USE_PAR=always: must be auto, on or off']);
  assert.deepEqual(load({ ...base, OIDC_DPOP: 'maybe' }).problems, ['OIDC_DPOP=maybe: must be true or false']);
});

test('oidc-connect.config.json: privateKey, par and dpop per provider, checked the same way', () => {
  const fileDir = mkdtempSync(join(dir, 'file-'));
  writeFileSync(join(fileDir, 'oidc-connect.config.json'), JSON.stringify({ providers: [
    { id: 'okta', issuer: 'https://dev-1.okta.com/oauth2/default', clientId: 'c', privateKey: file('rsa.pem'), par: 'on', dpop: true },
  ] }));
  const provider = load({}, fileDir).provider!;
  assert.deepEqual([provider.tokenAuthMethod, provider.privateKeys!.length, provider.clientSecret, provider.par, provider.dpop],
    ['private_key_jwt', 1, undefined, 'on', true]);
  writeFileSync(join(fileDir, 'oidc-connect.config.json'), JSON.stringify({ providers: [
    { id: 'okta', issuer: 'https://dev-1.okta.com/oauth2/default', clientId: 'c', privateKey: file('rsa-public.pem') },
  ] }));
  assert.match(load({}, fileDir).problems.join('\n'), /^oidc-connect\.config\.json providers\[0\]\.privateKey=.*: .*holds a public key only/);
});
