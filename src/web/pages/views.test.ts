import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../errors.ts';
import { createViews } from './views.ts';

const home = {
  user: { id: 1, username: 'alice', email: 'alice@example.com', firstName: '', lastName: '', isStaff: false, isSuperuser: false, hasPassword: false },
  csrf: 'token', provider: null, loggedOut: false,
};

test('every template is compiled when the renderer is made: later changes to the files are not read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-views-'));
  try {
    writeFileSync(join(dir, 'home.eta'), '<% layout(\'./layout\', { title: \'Home\', user: it.user }) %><p>Hello <%= it.user.username %></p>');
    const views = createViews({ views: dir });
    writeFileSync(join(dir, 'home.eta'), 'changed on disk');
    const page = views.render('home', home);
    assert.match(page, /<p>Hello alice<\/p>/);
    assert.match(page, /<html/, 'our layout frames the page');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a template that does not compile is reported when the renderer is made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-views-'));
  try {
    writeFileSync(join(dir, 'login.eta'), '<% if (it.error) { %>unclosed');
    assert.throws(() => createViews({ views: dir }), (error: unknown) => error instanceof ConfigError && /login\.eta does not compile/.test(error.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
