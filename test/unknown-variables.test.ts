/**
 * A variable with a typo in its name (OIDC_RP_CLIENTID) was ignored without a word (issue 22 §2):
 * now loadConfig lists the unknown ones with a watched prefix, the server warns once at start, and
 * `check` prints a WARN line, each naming the variable and the one it probably meant.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkSetup } from '../src/cli/check.ts';
import { VARIABLES, WATCHED_PREFIXES, unknownVariables } from '../src/config/env.ts';
import { loadConfig } from '../src/config/index.ts';
import { createRuntime } from '../src/web/runtime.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-variables-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const OKTA = { OKTA_DOMAIN: 'dev-123456.okta.com', OIDC_RP_CLIENT_ID: 'client', OIDC_RP_CLIENT_SECRET: 'secret' };
const TYPO = 'OIDC_RP_CLIENTID is set (in the environment) but oidc-connect reads no such variable, so it is ignored; did you mean OIDC_RP_CLIENT_ID?';

test('OIDC_RP_CLIENTID gives exactly one warning, naming it and OIDC_RP_CLIENT_ID', () => {
  const config = loadConfig({ cwd: dir, env: { ...OKTA, OIDC_RP_CLIENTID: 'client' } });
  assert.deepEqual(config.unknownVariables.map((u) => u.message), [TYPO]);
  assert.equal(config.unknownVariables[0]!.didYouMean, 'OIDC_RP_CLIENT_ID');
});

test('in the .env file too, and the warning says so', () => {
  const cwd = mkdtempSync(join(dir, 'dotenv-'));
  writeFileSync(join(cwd, '.env'), 'OKTA_DOMAIN=dev-123456.okta.com\nOIDC_RP_CLIENT_ID=client\nOIDC_RP_CLIENT_SECRET=secret\nSESION_SECRET=x\nSESSION_SECRT=0123456789abcdef0123456789abcdef\n');
  const config = loadConfig({ cwd, env: {} });
  assert.deepEqual(config.unknownVariables.map((u) => [u.name, u.source, u.didYouMean]), [['SESSION_SECRT', '.env', 'SESSION_SECRET']]);
  assert.match(config.unknownVariables[0]!.message, /^SESSION_SECRT is set \(in the \.env file\) .*; did you mean SESSION_SECRET\?$/);
});

test('known variables, variables of other programs, and a providers file\'s clientSecretEnv give none', () => {
  const file = join(dir, 'providers.json');
  writeFileSync(file, JSON.stringify({ providers: [{ id: 'google', issuer: 'https://accounts.google.com', clientId: 'c', clientSecretEnv: 'OIDC_GOOGLE_SECRET' }] }));
  const config = loadConfig({
    cwd: dir,
    env: {
      ...OKTA, OKTA_AUTHORIZATION_SERVER: 'default', OIDC_RP_SCOPES: 'openid email', SESSION_SECRET: 'k'.repeat(40), SESSION_CACHE: 'on',
      EMAIL_URL: 'smtp://mail.example.com:587', SCIM_TOKENS: 'a'.repeat(40), SCIM_MATCH_CLAIM: 'sub', OIDC_CONNECT_CONFIG: file, OIDC_GOOGLE_SECRET: 's',
      PATH: '/usr/bin', HOME: '/root', EMAILER_HOST: 'x', SESSIONS: '1', NODE_OPTIONS: '--max-old-space-size=512',
    },
  });
  assert.deepEqual(config.unknownVariables, []);
  assert.deepEqual(unknownVariables(Object.fromEntries(VARIABLES.map((name) => [name, 'x'])), {}), [], 'every known variable, set at once');
});

test('an unknown variable far from every known one is named, without a guess', () => {
  const [unknown] = unknownVariables({ SCIM_BANANA: 'x' }, { SCIM_BANANA: 'x' });
  assert.equal(unknown!.message, 'SCIM_BANANA is set (in the environment) but oidc-connect reads no such variable, so it is ignored');
  assert.equal(unknown!.didYouMean, null);
  assert.ok(WATCHED_PREFIXES.every((prefix) => unknownVariables({ [`${prefix}NOPE_NOPE_NOPE`]: 'x' }, {}).length === 1), 'each watched prefix');
});

test('the list is the configuration\'s own: every listed variable is read in src/config/ (the readers accept no other name)', () => {
  // The other direction is the compiler's: text(), integer(), boolean(), list() and names() take a Variable.
  const sources = [
    ...readdirSync(new URL('../src/config/', import.meta.url)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'env.ts')
      .map((f) => readFileSync(new URL(`../src/config/${f}`, import.meta.url), 'utf8')),
    readFileSync(new URL('../src/cli/createsuperuser.ts', import.meta.url), 'utf8'),
  ].join('\n');
  const unread = VARIABLES.filter((name) => !new RegExp(`['.]${name}\\b`).test(sources));
  assert.deepEqual(unread, []);
});

test('the server warns once at start, through its logger; check prints one WARN line', async () => {
  const config = loadConfig({ cwd: dir, env: { DATABASE_URL: 'sqlite::memory:', DEV_IDP_PORT: '1', OIDC_RP_CLIENTID: 'client' } });
  const warnings: Array<{ details: unknown; message: string }> = [];
  const runtime = await createRuntime({
    config,
    log: { info: () => {}, warn: ((details: unknown, message: string) => warnings.push({ details, message })) as never },
  });
  await runtime.close();
  const typo = warnings.filter((w) => w.message.includes('OIDC_RP_CLIENTID'));
  assert.equal(typo.length, 1);
  assert.deepEqual(typo[0], { details: { variable: 'OIDC_RP_CLIENTID', source: 'environment', didYouMean: 'OIDC_RP_CLIENT_ID' }, message: TYPO });

  const lines: string[] = [];
  await checkSetup(config, (line) => lines.push(line));
  assert.deepEqual(lines.filter((line) => line.includes('OIDC_RP_CLIENTID')), [`WARN ${TYPO}`]);
  const clean = loadConfig({ cwd: dir, env: { DATABASE_URL: 'sqlite::memory:', DEV_IDP_PORT: '1' } });
  const cleanLines: string[] = [];
  await checkSetup(clean, (line) => cleanLines.push(line));
  assert.equal(cleanLines.filter((line) => /is set .* reads no such variable/.test(line)).length, 0);
});
