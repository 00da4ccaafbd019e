import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { checkImports } from '../scripts/check-imports.ts';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'check-imports-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('a tree that points one way passes', () => {
  const root = tree({
    'errors.ts': 'export class E {}',
    'errors.test.ts': "import { E } from './errors.ts';\nimport { loadConfig } from './config/index.ts';",
    'dev-client.ts': "export const ID = 'x';",
    'config/index.ts': "import { E } from '../errors.ts';\nimport { ID } from '../dev-client.ts';",
    'db/index.ts': "import type { Config } from '../config/index.ts';",
    'sessions/index.ts': "import { db } from '../db/index.ts';",
    'rp/index.ts': "import { s } from '../sessions/index.ts';\nimport * as client from 'openid-client';",
    'web/plugin.ts': "import fp from 'fastify-plugin';\nimport cookie from '@fastify/cookie';\nimport { rp } from '../rp/index.ts';",
    'web/plugin.test.ts': "import { op } from '../dev-idp/op.ts';",
    'dev-idp/op.ts': "import Provider from 'oidc-provider';\nimport { ID } from '../dev-client.ts';\nimport { E } from '../errors.ts';",
    'server.ts': "import { op } from './dev-idp/op.ts';\nimport { app } from './web/plugin.ts';",
  });
  assert.deepEqual(checkImports(root), []);
});

test('each cycle, wrong-way import and misplaced package gets one line', () => {
  const root = tree({
    'errors.ts': "import { c } from './config/index.ts';",
    'config/index.ts': "import { ALGS } from '../rp/algorithms.ts';\nimport type { P } from './providers-file.ts';",
    'config/providers-file.ts': "import type { Config } from './index.ts';",
    'rp/algorithms.ts': "import { s } from '../sessions/index.ts';",
    'sessions/index.ts': "export type { Provider } from '../rp/provider.ts';",
    'rp/provider.ts': "import type { FastifyRequest } from 'fastify';",
    'admin/users.ts': "const web = await import('../web/views.ts');",
    'web/views.ts': "import { x } from './routes/admin.ts';",
    'web/routes/admin.ts': "import { v } from '../views.ts';",
    'dev-idp/op.ts': "import { loadConfig } from '../config/index.ts';",
    'misc/helper.ts': "import { E } from '../errors.ts';",
  });
  assert.deepEqual(checkImports(root), [
    'unplaced: src/misc/helper.ts (misc has no place in LAYERS or LEAVES in scripts/check-imports.ts)',
    'package: src/rp/provider.ts -> fastify (only web, server.ts, cli, index.ts may import fastify)',
    'wrong way: src/admin/users.ts -> src/web/views.ts (web sits above admin)',
    'wrong way: src/config/index.ts -> src/rp/algorithms.ts (rp sits above config)',
    'wrong way: src/dev-idp/op.ts -> src/config/index.ts (dev-idp/ stands apart and imports only errors.ts, digest.ts, sealed.ts, dpop-proof.ts, dev-client.ts, optional-packages.ts, tracing.ts, node-version.ts)',
    'wrong way: src/errors.ts -> src/config/index.ts (errors.ts is a leaf and imports nothing from src/)',
    'wrong way: src/sessions/index.ts -> src/rp/provider.ts (rp sits above sessions)',
    'cycle: src/config/index.ts -> src/config/providers-file.ts -> src/config/index.ts',
    'cycle: src/web/routes/admin.ts -> src/web/views.ts -> src/web/routes/admin.ts',
  ]);
});

test('folders side by side may not import each other; only the entry points may import dev-idp', () => {
  const root = tree({
    'cli/main.ts': "import { x } from '../index.ts';",
    'index.ts': "export {};",
    'rp/index.ts': "import { op } from '../dev-idp/op.ts';",
    'dev-idp/op.ts': 'export const op = 1;',
  });
  assert.deepEqual(checkImports(root), [
    'wrong way: src/cli/main.ts -> src/index.ts (cli and index.ts sit side by side and may not import each other)',
    'wrong way: src/rp/index.ts -> src/dev-idp/op.ts (only cli, index.ts, server.ts, web and tests may import dev-idp/)',
  ]);
});
