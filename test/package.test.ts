import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/**
 * The package as users get it: `npm pack`, unpacked into a project's node_modules next to its
 * dependencies, imported by its name (so through the `exports` map) and type-checked from there.
 */
let project: string;
before(() => {
  project = mkdtempSync(join(tmpdir(), 'oidc-connect-pack-'));
  execFileSync(process.execPath, [join(root, 'scripts/build.ts')], { stdio: 'pipe' });
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  const target = join(project, 'node_modules', 'oidc-connect');
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', join(project, tarball), '-C', target, '--strip-components=1']);
  for (const dep of [...Object.keys(pkg.dependencies), '@types/node']) {
    mkdirSync(join(project, 'node_modules', dep, '..'), { recursive: true });
    symlinkSync(join(root, 'node_modules', dep), join(project, 'node_modules', dep));
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
});
after(() => rmSync(project, { recursive: true, force: true }));

test('the packed package holds the compiled code, types and assets, not the sources', () => {
  const files = execFileSync('tar', ['-tzf', join(project, readdirTarball())], { encoding: 'utf8' });
  assert.match(files, /package\/dist\/index\.js/);
  assert.match(files, /package\/dist\/index\.d\.ts/);
  assert.match(files, /package\/dist\/web\/views\/home\.eta/);
  assert.match(files, /package\/dist\/web\/static\/app\.css/);
  assert.match(files, /package\/bin\/oidc-connect\.js/);
  assert.doesNotMatch(files, /package\/src\//);
  assert.doesNotMatch(files, /\.test\.js/);
});

test('imported by name, it serves the tutorial app', async () => {
  const script = `
    import { buildApp, createRelyingParty, loadConfig, migrate, oidcConnect, openDatabase } from 'oidc-connect';
    const config = loadConfig({ cwd: process.cwd(), env: { DATABASE_URL: 'sqlite::memory:', SESSION_SECRET: 'x'.repeat(32) } });
    const database = openDatabase(config.database);
    await migrate(database);
    const app = await buildApp({ config, db: database.db, rp: createRelyingParty(config, database.db) });
    const home = await app.inject('/');
    const css = await app.inject('/static/app.css');
    console.log(JSON.stringify({ plugin: typeof oidcConnect, status: home.statusCode, text: home.body.includes('You are not logged in'), css: css.statusCode }));
    await app.close();
    await database.close();`;
  writeFileSync(join(project, 'consumer.mjs'), script);
  const out = execFileSync(process.execPath, ['consumer.mjs'], { cwd: project, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), { plugin: 'function', status: 200, text: true, css: 200 });
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

function readdirTarball(): string {
  return execFileSync('ls', [project], { encoding: 'utf8' }).split('\n').find((f) => f.endsWith('.tgz'))!;
}
