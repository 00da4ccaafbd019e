import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeEmail } from './email.ts';

test('trims and folds ASCII A-Z only', () => {
  assert.equal(normalizeEmail('  Alice@Example.COM '), 'alice@example.com');
  assert.equal(normalizeEmail('\u212Aate@example.com'), '\u212Aate@example.com', 'KELVIN SIGN stays itself');
  assert.notEqual(normalizeEmail('\u212Aate@example.com'), normalizeEmail('kate@example.com'));
  assert.equal(normalizeEmail('ÉLODIE@example.com'), 'Élodie@example.com', 'non-ASCII letters are kept as typed');
  assert.equal(normalizeEmail('İ@example.com'), 'İ@example.com', 'no Turkish dotted-I folding');
});
