import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeNext } from './redirects.ts';

const app = 'http://localhost:8080';

test('same-origin paths are kept', () => {
  assert.equal(safeNext('/', app), '/');
  assert.equal(safeNext('/admin/?page=2#top', app), '/admin/?page=2#top');
  assert.equal(safeNext('/a/../b', app), '/b');
});

test('a plain path (letters, digits, _ - /) comes back as it is, as URL parsing would give it', () => {
  for (const path of ['/', '/admin/users/', '/a//b', '/x-y_z/42', '/a/b-']) {
    assert.equal(safeNext(path, app), path);
    assert.equal(safeNext(path, app), new URL(path, app).pathname);
  }
});

test('anything that could leave the origin becomes /', () => {
  for (const bad of [
    'https://evil.example', '//evil.example', '/\\evil.example', '\\\\evil.example', '/\t/evil.example',
    '/\n/evil.example', 'javascript:alert(1)', 'evil.example', '', ' /x', 'http://localhost:8080/x',
    '/'.padEnd(3000, 'a'), undefined, null, 42, ['/x'],
  ]) {
    assert.equal(safeNext(bad, app), '/', `refused: ${JSON.stringify(bad)}`);
  }
});

test('a missing or refused next gives the fallback (LOGIN_REDIRECT_URL)', () => {
  assert.equal(safeNext(undefined, app, '/dashboard/'), '/dashboard/');
  assert.equal(safeNext('//evil.example', app, '/dashboard/'), '/dashboard/');
  assert.equal(safeNext('/.//evil.example', app, '/dashboard/'), '/dashboard/');
  assert.equal(safeNext('/x', app, '/dashboard/'), '/x');
});

test('dot segments that collapse into a protocol-relative path become /', () => {
  // URL parsing turns each of these into the path //evil.example, which a browser reads as a host.
  for (const bad of ['/.//evil.example', '/%2e//evil.example', '/%2E//evil.example', '/..//evil.example', '/a/..//evil.example', '/%2e%2e//evil.example/x?y#z']) {
    assert.equal(safeNext(bad, app), '/', `refused: ${JSON.stringify(bad)}`);
  }
});
