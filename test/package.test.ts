import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, test } from 'node:test';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../src/dev-client.ts';
import { startDevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';
import { providerLogin } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { ENGINES, olderSystemNode } from './support/old-node.ts';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/**
 * The package as users get it: `npm pack`, then `npm install` of the tarball into a fresh project,
 * with fastify, Express 5 and their types, as an app developer would (the npm cache serves what it
 * holds, the registry the rest). It is imported by its name (so through the `exports` map) and
 * type-checked from there. Each consumer app is written into the same project; the CommonJS one
 * into a folder of it whose package.json says so.
 */
let project: string;
before(() => {
  project = mkdtempSync(join(tmpdir(), 'oidc-connect-pack-'));
  execFileSync(process.execPath, [join(root, 'scripts/build.ts')], { stdio: 'pipe' });
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  // Express 5 and its types, at the versions of our express5 and @types/express5 devDependencies (npm: aliases).
  const version = (alias: string) => pkg.devDependencies[alias]!.slice(pkg.devDependencies[alias]!.lastIndexOf('@') + 1);
  execFileSync('npm', [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error',
    join(project, tarball), `fastify@${pkg.dependencies['fastify']}`, `@types/node@${pkg.devDependencies['@types/node']}`,
    `express@${version('express5')}`, `@types/express@${version('@types/express5')}`,
  ], { cwd: project, stdio: 'pipe', timeout: 300_000 });
  // The examples import the package by its name, so they are copied as they are.
  for (const example of ['minimal.ts', 'express.ts']) copyFileSync(join(root, 'examples', example), join(project, example));
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

test('the docs travel with it: every relative link of its README.md, CHANGELOG.md and docs/ leads to a file it ships', () => {
  const files = new Set(execFileSync('tar', ['-tzf', join(project, readdirTarball())], { encoding: 'utf8' }).split('\n')
    .filter(Boolean).map((entry) => entry.replace(/^package\//, '')));
  const pages = [...files].filter((file) => file === 'README.md' || file === 'CHANGELOG.md' || (file.startsWith('docs/') && file.endsWith('.md')));
  assert.ok(pages.includes('README.md') && pages.includes('CHANGELOG.md') && pages.includes('docs/errors.md'), pages.join(', '));
  const dead: string[] = [];
  let links = 0;
  for (const page of pages) {
    const text = readFileSync(join(project, 'node_modules/oidc-connect', page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      links++;
      const file = posix.normalize(posix.join(posix.dirname(page), target!.replace(/#.*$/, '')));
      if (!files.has(file)) dead.push(`${page}: ${target}`);
    }
  }
  assert.ok(links > 20, `${links} relative links`);
  assert.deepEqual(dead, []);
});

test('every #anchor of a link in its README.md, CHANGELOG.md, SECURITY.md and docs/ names a heading of the page it points at', () => {
  const base = join(project, 'node_modules/oidc-connect');
  const pages = ['README.md', 'CHANGELOG.md', 'SECURITY.md', ...execFileSync('tar', ['-tzf', join(project, readdirTarball())], { encoding: 'utf8' })
    .split('\n').map((entry) => entry.replace(/^package\//, '')).filter((file) => file.startsWith('docs/') && file.endsWith('.md'))];
  // A heading GitHub rendered on main, with the anchor the README linked to then.
  assert.ok(headingSlugs('## Provisioning (SCIM), Universal Logout and roles\n').has('provisioning-scim-universal-logout-and-roles'));
  const broken: string[] = [];
  let anchors = 0;
  for (const page of pages) {
    const text = readFileSync(join(base, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const [path = '', anchor] = target!.split('#');
      if (anchor === undefined || /^(https?:|mailto:)/.test(target!)) continue;
      const file = path === '' ? page : posix.normalize(posix.join(posix.dirname(page), path));
      if (!file.endsWith('.md') || !existsSync(join(base, file))) continue; // the test above reports missing files
      anchors++;
      if (!headingSlugs(readFileSync(join(base, file), 'utf8')).has(anchor)) broken.push(`${page}: ${target}`);
    }
  }
  assert.ok(anchors > 10, `${anchors} links with an anchor`);
  assert.deepEqual(broken, []);
});

/**
 * The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, and
 * -1, -2… on repeats. Fenced code is skipped, since a `#` comment there is no heading.
 * Worked example: "## Provisioning (SCIM), Universal Logout and roles" → provisioning-scim-universal-logout-and-roles.
 */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const repeats = seen.get(slug) ?? 0;
    seen.set(slug, repeats + 1);
    slugs.add(repeats === 0 ? slug : `${slug}-${repeats}`);
  }
  return slugs;
}

test('package.json names its repository, homepage and issue tracker', () => {
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/oidc-connect/package.json'), 'utf8')) as Record<string, unknown>;
  assert.match((installed['repository'] as { url: string }).url, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
  assert.match(installed['homepage'] as string, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+#readme$/);
  assert.match((installed['bugs'] as { url: string }).url, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/issues$/);
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

/** Every entry point, with the declarations each one adds to Fastify's and Express's types. */
const CONSUMER = `
  import Fastify from 'fastify';
  import express from 'express';
  import { loadConfig, oidcConnect, type Config } from 'oidc-connect';
  import { oidcConnect as middleware, requireLogin } from 'oidc-connect/express';
  import { startDevIdp, type DevIdp } from 'oidc-connect/dev-idp';
  const config: Config = loadConfig();
  const app = Fastify();
  void app.register(oidcConnect, { config, routes: { health: '/auth/healthz', me: false } });
  app.get('/', { preHandler: app.requireLogin }, async (request, reply) => [request.user?.username, reply.csrfToken()]);
  app.get('/api', { preHandler: app.requireBearer({ scopes: ['read'] }) }, async (request) => request.bearer?.scopes);
  const auth = await middleware({ config });
  express().use(auth).get('/', requireLogin(), (req, res) => { res.json([req.user?.username, req.oidcConnect.csrfToken()]); });
  export const idp: Promise<DevIdp> = startDevIdp({ port: 9000, appUrl: config.appUrl, dataDir: config.dataDir });
`;

test('its types, and the examples, check with skipLibCheck: false, under module nodenext and under moduleResolution bundler', () => {
  writeFileSync(join(project, 'consumer.ts'), CONSUMER);
  typeCheck(['consumer.ts', 'minimal.ts', 'express.ts'], { module: 'nodenext', moduleResolution: 'nodenext' });
  typeCheck(['consumer.ts'], { module: 'esnext', moduleResolution: 'bundler' });
});

test('in a CommonJS package: module nodenext compiles its imports to require(), which runs on Node 24 and signs in', async () => {
  const cjs = join(project, 'cjs');
  mkdirSync(cjs);
  writeFileSync(join(cjs, 'package.json'), JSON.stringify({ type: 'commonjs' }));
  writeFileSync(join(cjs, 'app.ts'), `
    import express from 'express';
    import { oidcConnect, requireLogin } from 'oidc-connect/express';
    async function main(): Promise<void> {
      const auth = await oidcConnect({ logger: false });
      const app = express();
      app.use(auth);
      app.get('/account', requireLogin(), (req, res) => { res.json({ username: req.user!.username }); });
      const server = app.listen(auth.config.port, auth.config.host);
      process.once('SIGTERM', () => server.close(() => void auth.close()));
    }
    void main();
  `);
  typeCheck(['cjs/app.ts'], { module: 'nodenext', moduleResolution: 'nodenext', esModuleInterop: true }, { noEmit: false, outDir: 'cjs/out' });
  assert.match(readFileSync(join(cjs, 'out/app.js'), 'utf8'), /require\("oidc-connect\/express"\)/);
  await signInThroughBothFlows('cjs/out/app.js', JSON_USER);
});

test('in a CommonJS package under module node16, a static import is refused (TS1479), and import() with resolution-mode types checks', () => {
  writeFileSync(join(project, 'cjs/static16.ts'), `import { oidcConnect } from 'oidc-connect/express';\nvoid oidcConnect;\n`);
  writeFileSync(join(project, 'cjs/dynamic16.ts'), `
    import type { OidcConnectMiddleware } from 'oidc-connect/express' with { 'resolution-mode': 'import' };
    export async function start(): Promise<OidcConnectMiddleware> {
      const { oidcConnect } = await import('oidc-connect/express');
      return oidcConnect({ logger: false });
    }
  `);
  const run = tsc(['cjs/static16.ts', 'cjs/dynamic16.ts'], { module: 'node16', moduleResolution: 'node16' });
  assert.equal(run.status, 2);
  const errors = run.stdout.split('\n').filter((line) => /error TS/.test(line));
  assert.equal(errors.length, 1, run.stdout);
  assert.match(errors[0]!, /^cjs\/static16\.ts\(1,29\): error TS1479: The current file is a CommonJS module whose imports will produce 'require' calls; however, the referenced file is an ECMAScript module/);
});

const oldNode = olderSystemNode();
test('on a Node older than "engines" (the system node), each entry point fails with the line the CLI prints', { skip: 'skip' in oldNode && oldNode.skip }, () => {
  const { path, version } = oldNode as { path: string; version: string };
  const line = (stderr: string) => /^Error: (oidc-connect cannot start: .*)$/m.exec(stderr)?.[1];
  const cliRun = spawnSync(path, [join(project, 'node_modules/oidc-connect/bin/oidc-connect.js'), 'migrate'], { cwd: project, encoding: 'utf8' });
  assert.equal(cliRun.status, 1);
  const cliLine = cliRun.stderr.split('\n')[0]!;
  assert.match(cliLine, new RegExp(`^oidc-connect cannot start: it needs Node\\.js ${ENGINES.replace(/\./g, '\\.')} \\(package\\.json "engines"\\), and this is Node ${version.replace(/\./g, '\\.')} \\(`));
  for (const entry of ['oidc-connect', 'oidc-connect/express', 'oidc-connect/dev-idp']) {
    const imported = spawnSync(path, ['--input-type=module', '-e', `import '${entry}';`], { cwd: project, encoding: 'utf8' });
    assert.equal(imported.status, 1, entry);
    assert.equal(line(imported.stderr), cliLine, entry);
    assert.doesNotMatch(imported.stderr, /ERR_UNKNOWN_BUILTIN_MODULE/, entry);
    const caught = spawnSync(path, ['--input-type=module', '-e', `import('${entry}').catch((e) => console.log(e.code))`], { cwd: project, encoding: 'utf8' });
    assert.equal(caught.stdout.trim(), 'NODE_UNSUPPORTED', entry);
  }
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

const JSON_USER: SignedInPage = { path: '/account', user: (body) => (JSON.parse(body) as { username?: string }).username };
const EXPRESS_USER: SignedInPage = { path: '/private', user: (body) => /<h1>Private page for ([^<]+)<\/h1>/.exec(body)?.[1] };

test('examples/minimal.ts copied into a Fastify app starts on APP_URL\'s port, and signs in through both flows', async () => {
  await signInThroughBothFlows('minimal.ts', JSON_USER);
});

test('examples/express.ts copied into an Express 5 app starts on APP_URL\'s port, and signs in through both flows', async () => {
  await signInThroughBothFlows('express.ts', EXPRESS_USER);
});

type ModuleSettings = { module: string; moduleResolution: string; esModuleInterop?: boolean };

/**
 * Type-checks consumer files the way its own project would: strict, against the installed package,
 * with skipLibCheck: false, so that our published declarations are checked too (an import they lose,
 * or a type of an optional peer such as pg, fails here).
 */
function typeCheck(files: string[], settings: ModuleSettings, emit?: Emit): void {
  const result = tsc(files, settings, emit);
  assert.equal(result.status, 0, `tsc on ${files.join(', ')} with ${JSON.stringify(settings)}:\n${result.stdout}${result.stderr}`);
}

type Emit = { noEmit: boolean; outDir?: string };

function tsc(files: string[], settings: ModuleSettings, emit: Emit = { noEmit: true }): { status: number | null; stdout: string; stderr: string } {
  const tsconfig = join(project, `tsconfig.${files[0]!.replaceAll('/', '-')}.${settings.moduleResolution}.json`);
  writeFileSync(tsconfig, JSON.stringify({
    compilerOptions: { strict: true, target: 'es2022', skipLibCheck: false, types: ['node'], ...settings, ...emit },
    files,
  }));
  return spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: project, encoding: 'utf8' });
}

/** The app's protected page, and how to read the signed-in username from its answer. */
interface SignedInPage {
  path: string;
  user(body: string): string | undefined;
}

/**
 * Runs a consumer app (`node <file>`, listening on PORT and HOST) against a development provider this test
 * starts, as a real provider would be set up (OIDC_ISSUER and the client's credentials), with a local
 * superuser made by the package's own CLI. Then signs in through the login form and through the code
 * flow; the app's protected page must show each one's username.
 */
async function signInThroughBothFlows(file: string, page: SignedInPage): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(project, 'data-'));
  const idp = await startDevIdp({ port: await freePort(), appUrl: url, dataDir: join(dataDir, 'idp') });
  const env = {
    PATH: process.env.PATH ?? '', HOME: project, PORT: String(port), HOST: '127.0.0.1', APP_URL: url, DATABASE_URL: `sqlite:${join(dataDir, 'app.sqlite')}`,
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
      // A child that exits fails at once; a slow start on a loaded machine gets a minute, not ten seconds.
      assert.ok(tries < 600 && child.exitCode === null, `${file} answers /healthz`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const local = new HttpClient();
    const form = await local.get(`${url}/accounts/login/?next=${page.path}`);
    const done = await local.post(`${url}/accounts/login/`, {
      _csrf: hiddenField(form.body, '_csrf'), next: page.path, username: 'admin', password: 'correct-horse-battery',
    });
    assert.equal(done.location, `${url}${page.path}`);
    assert.equal(page.user((await local.get(done.location)).body), 'admin');

    const okta = new HttpClient();
    const back = await providerLogin(okta, url, { email: 'alice@example.com', password: 'wonderland' }, page.path);
    assert.equal(back.location, `${url}${page.path}`);
    assert.equal(page.user((await okta.get(back.location)).body), 'alice');
  } finally {
    child.kill('SIGTERM');
    await exited;
    await idp.close();
  }
}

function readdirTarball(): string {
  return execFileSync('ls', [project], { encoding: 'utf8' }).split('\n').find((f) => f.endsWith('.tgz'))!;
}
