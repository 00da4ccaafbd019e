import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../src/dev-client.ts';
import { startDevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';
import { providerLogin } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/**
 * The package as users get it: `npm pack`, then `npm install` of the tarball into a fresh project,
 * with fastify and @types/node, as an app developer would (the npm cache serves what it holds, the
 * registry the rest). It is imported by its name (so through the `exports` map) and type-checked
 * from there. Each framework's consumer app is written into the same project (startConsumer).
 */
let project: string;
before(() => {
  project = mkdtempSync(join(tmpdir(), 'oidc-connect-pack-'));
  execFileSync(process.execPath, [join(root, 'scripts/build.ts')], { stdio: 'pipe' });
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  execFileSync('npm', [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error',
    join(project, tarball), `fastify@${pkg.dependencies['fastify']}`, `@types/node@${pkg.devDependencies['@types/node']}`,
  ], { cwd: project, stdio: 'pipe', timeout: 300_000 });
});
after(() => rmSync(project, { recursive: true, force: true }));

test('the packed package holds the compiled code, types and assets, not the sources', () => {
  const files = execFileSync('tar', ['-tzf', join(project, readdirTarball())], { encoding: 'utf8' });
  assert.match(files, /package\/dist\/index\.js/);
  assert.match(files, /package\/dist\/index\.d\.ts/);
  assert.match(files, /package\/dist\/web\/pages\/views\/home\.eta/);
  assert.match(files, /package\/dist\/web\/pages\/static\/app\.css/);
  assert.match(files, /package\/dist\/web\/pages\/static\/favicon\.svg/);
  assert.match(files, /package\/dist\/accounts\/common-passwords\/common-passwords\.txt\.gz/);
  assert.match(files, /package\/dist\/accounts\/common-passwords\/LICENSE/);
  assert.match(files, /package\/dist\/web\/pages\/static\/webauthn\.js/);
  assert.match(files, /package\/bin\/oidc-connect\.js/);
  assert.doesNotMatch(files, /package\/src\//);
  assert.doesNotMatch(files, /\.test\.js/);
});

test('imported by name, it serves the tutorial app', async () => {
  const script = `
    import { buildApp, createRelyingParty, loadConfig, migrate, oidcConnect, openDatabase, validatePassword } from 'oidc-connect';
    const config = loadConfig({ cwd: process.cwd(), env: { DATABASE_URL: 'sqlite::memory:', SESSION_SECRET: 'x'.repeat(32) } });
    const database = openDatabase(config.database);
    await migrate(database);
    const app = await buildApp({ config, db: database.db, rp: createRelyingParty(config, database.db) });
    const home = await app.inject('/');
    const css = await app.inject('/oidc-connect/static/app.css');
    const passkeys = await app.inject('/oidc-connect/static/webauthn.js');
    const webauthn = await app.inject('/oidc-connect/static/simplewebauthn-browser.js');
    // Django's common-password list is read from beside the compiled code.
    const refused = validatePassword('iloveyou', { username: 'someone' });
    console.log(JSON.stringify({
      plugin: typeof oidcConnect, status: home.statusCode, text: home.body.includes('You are not logged in'), css: css.statusCode,
      passkeys: passkeys.statusCode, webauthn: webauthn.statusCode, bundle: webauthn.body.includes('SimpleWebAuthnBrowser'), refused,
    }));
    await app.close();
    await database.close();`;
  writeFileSync(join(project, 'consumer.mjs'), script);
  const out = execFileSync(process.execPath, ['consumer.mjs'], { cwd: project, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), {
    plugin: 'function', status: 200, text: true, css: 200, passkeys: 200, webauthn: 200, bundle: true, refused: ['This password is too common.'],
  }, 'the passkey scripts, @simplewebauthn/browser\'s from the installed dependency, are served from the app\'s own origin, and the common-password list beside the compiled code');
});

test('its types check in a consumer project', () => {
  writeFileSync(join(project, 'consumer.ts'), `
    import Fastify from 'fastify';
    import { loadConfig, oidcConnect, type Config } from 'oidc-connect';
    const config: Config = loadConfig();
    const app = Fastify();
    void app.register(oidcConnect, { config });
    app.get('/', async (request) => request.user?.username ?? 'anonymous');
  `);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: true, types: ['node'] },
    files: ['consumer.ts'],
  }));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project, encoding: 'utf8' });
});

test('its bin runs from node_modules (compiled, no type stripping there)', () => {
  const out = execFileSync(process.execPath, [join(project, 'node_modules/oidc-connect/bin/oidc-connect.js'), 'migrate'], {
    cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: project },
  });
  assert.match(out, /Applied: 0001_init/);
});

test('installed from its tarball it brings its dependencies, but no Node binary (node@24 is a devDependency) and neither optional peer', () => {
  const installed = (name: string) => existsSync(join(project, 'node_modules', name, 'package.json'));
  for (const present of ['oidc-connect', 'fastify', 'openid-client', 'kysely']) assert.ok(installed(present), present);
  for (const absent of ['node', 'oidc-provider', 'pg', 'typescript']) assert.equal(installed(absent), false, absent);
});

test('without pg or oidc-provider, the package says which to install when one is asked for', () => {
  const bin = join(project, 'node_modules/oidc-connect/bin/oidc-connect.js');
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, [bin, ...args], { cwd: project, env: { PATH: process.env.PATH ?? '', HOME: project, ...env }, encoding: 'utf8' });
  const postgres = run(['migrate'], { DATABASE_URL: 'postgres://app@127.0.0.1:1/app' });
  assert.equal(postgres.status, 1);
  assert.match(postgres.stderr, /DATABASE_URL is PostgreSQL postgres:\/\/app@127\.0\.0\.1:1\/app, but the pg package is not installed: npm install pg\n/);
  const provider = run(['dev-idp'], { DEV_IDP_PORT: '0' });
  assert.equal(provider.status, 1);
  assert.match(provider.stderr, /but the oidc-provider package is not installed: npm install oidc-provider/);
});

test('a Fastify app installs it, type-checks, starts, and signs in through both flows', async () => {
  writeFileSync(join(project, 'fastify-app.ts'), `
    import Fastify from 'fastify';
    import { oidcConnect } from 'oidc-connect';
    const app = Fastify();
    await app.register(oidcConnect);
    app.get('/private', { preHandler: app.requireLogin }, async (request) => ({ user: request.user!.username }));
    await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
    process.once('SIGTERM', () => void app.close());
  `);
  typeCheck('fastify-app.ts');
  await signInThroughBothFlows('fastify-app.ts');
});

test('an Express 5 app installs it, type-checks, starts, and signs in through both flows', async () => {
  // Express 5 and its types, at the versions of our express5 and @types/express5 devDependencies (npm: aliases).
  const version = (alias: string) => pkg.devDependencies[alias]!.slice(pkg.devDependencies[alias]!.lastIndexOf('@') + 1);
  execFileSync('npm', [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error',
    `express@${version('express5')}`, `@types/express@${version('@types/express5')}`,
  ], { cwd: project, stdio: 'pipe', timeout: 300_000 });
  writeFileSync(join(project, 'express-app.ts'), `
    import express from 'express';
    import { oidcConnect, requireLogin } from 'oidc-connect/express';
    const auth = await oidcConnect({ logger: false });
    const app = express();
    app.use(auth);
    app.get('/private', requireLogin(), (req, res) => {
      res.json({ user: req.user!.username });
    });
    app.get('/form-token', (req, res) => {
      res.json({ csrf: req.oidcConnect.csrfToken(), session: req.oidcConnect.session?.id ?? null });
    });
    const server = app.listen(Number(process.env['PORT']), '127.0.0.1');
    process.once('SIGTERM', () => server.close(() => void auth.close()));
  `);
  typeCheck('express-app.ts');
  await signInThroughBothFlows('express-app.ts');
});

/** Type-checks one consumer file the way its own project would: strict, nodenext, against the installed package. */
function typeCheck(file: string): void {
  const tsconfig = join(project, `tsconfig.${file}.json`);
  writeFileSync(tsconfig, JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: true, types: ['node'] },
    files: [file],
  }));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: project, encoding: 'utf8' });
}

/**
 * Runs a consumer app (`node <file>`, listening on PORT) against a development provider this test
 * starts, as a real provider would be set up (OIDC_ISSUER and the client's credentials), with a local
 * superuser made by the package's own CLI. Then signs in through the login form and through the code
 * flow; the app's `/private` route must answer `{ user }` to each.
 */
async function signInThroughBothFlows(file: string): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(project, 'data-'));
  const idp = await startDevIdp({ port: await freePort(), appUrl: url, dataDir: join(dataDir, 'idp') });
  const env = {
    PATH: process.env.PATH ?? '', HOME: project, PORT: String(port), APP_URL: url, DATABASE_URL: `sqlite:${join(dataDir, 'app.sqlite')}`,
    OIDC_ISSUER: idp.issuer, OIDC_RP_CLIENT_ID: DEV_CLIENT_ID, OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET,
  };
  const bin = join(project, 'node_modules/oidc-connect/bin/oidc-connect.js');
  execFileSync(process.execPath, [bin, 'createsuperuser', '--no-input', '--username', 'admin', '--email', 'admin@example.com'],
    { cwd: project, env: { ...env, OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct-horse-battery' }, encoding: 'utf8' });
  const child = spawn(process.execPath, [file], { cwd: project, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (let tries = 0; ; tries++) {
      const health = await fetch(`${url}/healthz`).catch(() => null);
      if (health?.status === 200) break;
      assert.ok(tries < 100 && child.exitCode === null, `${file} answers /healthz`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const local = new HttpClient();
    const page = await local.get(`${url}/accounts/login/?next=/private`);
    const done = await local.post(`${url}/accounts/login/`, {
      _csrf: hiddenField(page.body, '_csrf'), next: '/private', username: 'admin', password: 'correct-horse-battery',
    });
    assert.equal(done.location, `${url}/private`);
    assert.deepEqual(JSON.parse((await local.get(done.location)).body), { user: 'admin' });

    const okta = new HttpClient();
    const back = await providerLogin(okta, url, { email: 'alice@example.com', password: 'wonderland' }, '/private');
    assert.equal(back.location, `${url}/private`);
    assert.deepEqual(JSON.parse((await okta.get(back.location)).body), { user: 'alice' });
  } finally {
    child.kill('SIGTERM');
    await exited;
    await idp.close();
  }
}

function readdirTarball(): string {
  return execFileSync('ls', [project], { encoding: 'utf8' }).split('\n').find((f) => f.endsWith('.tgz'))!;
}
