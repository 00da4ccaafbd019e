import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig, type RoleRule } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-role-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The rules loadConfig reads from ROLE_RULES, or its problems. */
function load(rules: string): { rules?: readonly RoleRule[]; problems: string[] } {
  try {
    return { rules: loadConfig({ cwd: dir, env: { ROLE_RULES: rules } }).roleRules, problems: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { problems: [...error.problems] };
    throw error;
  }
}

/** The one problem of `rules`: a single line that names ROLE_RULES. */
function problem(rules: string): string {
  const { problems } = load(rules);
  assert.equal(problems.length, 1, `${rules}: ${problems.join(' | ')}`);
  assert.match(problems[0]!, /^ROLE_RULES[=:]/);
  assert.doesNotMatch(problems[0]!, /\n/, 'one line');
  return problems[0]!;
}

test('ROLE_RULES inline and from a file give the same rules, each role once', () => {
  const json = '{"Okta Admins": ["superuser"], "Support": ["staff", "support", "staff"]}';
  const expected = [{ group: 'Okta Admins', roles: ['superuser'] }, { group: 'Support', roles: ['staff', 'support'] }];
  assert.deepEqual(load(json).rules, expected);
  writeFileSync(join(dir, 'rules.json'), json);
  assert.deepEqual(load('rules.json').rules, expected, 'a path relative to the working directory');
  assert.deepEqual(load(join(dir, 'rules.json')).rules, expected);
});

test('ROLE_RULES that is not JSON is one line naming it and the shape to write', () => {
  assert.match(problem('{"Support": ["staff",]}'), /^ROLE_RULES: is not valid JSON \(.*\); write it as \{"Group name": \["role", …\]\}$/);
  // JSON.parse quotes the text it choked on, line breaks and all: still one line.
  writeFileSync(join(dir, 'broken.json'), '{\n  "Support": [\n    "staff",\n  ]\n}\n');
  assert.match(problem('broken.json'), new RegExp(`^ROLE_RULES: the file ${join(dir, 'broken.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: is not valid JSON`));
});

test('ROLE_RULES naming a file that does not exist says so, and how to give the rules inline', () => {
  assert.equal(problem('./no-such-rules.json'),
    'ROLE_RULES=./no-such-rules.json: is neither a JSON object nor a readable file (ENOENT); give the rules inline, such as {"Support": ["staff", "support"]}, or the path of a file holding them');
});

test('ROLE_RULES must be an object whose values are non-empty lists of role names', () => {
  assert.match(problem('["staff"]'), /^ROLE_RULES: must be a JSON object of group name -> list of roles, such as \{"Support": \["staff", "support"\]\}$/);
  assert.match(problem('{"Support": "staff"}'), /^ROLE_RULES: the group "Support" must map to a non-empty list of roles, such as \["staff"\], not "staff"$/);
  assert.match(problem('{"Support": []}'), /^ROLE_RULES: the group "Support" must map to a non-empty list of roles/);
  assert.match(problem('{"Support": ["staff", 7]}'), /^ROLE_RULES: the group "Support" has the role 7; a role is a string of 1 to 64 letters, digits and _ \. : -$/);
  assert.match(problem('{"Support": ["two words"]}'), /^ROLE_RULES: the group "Support" has the role "two words"/);
  assert.match(problem('{"": ["staff"]}'), /^ROLE_RULES: the group name "" must have 1 to 150 characters$/);
  writeFileSync(join(dir, 'list.json'), '{"Support": {"role": "staff"}}');
  assert.match(problem('list.json'), /^ROLE_RULES: the file .*list\.json: the group "Support" must map to a non-empty list of roles/);
});

test('every bad group of ROLE_RULES is a problem of its own, and the good ones are not reported', () => {
  const { problems } = load('{"A": "staff", "B": ["staff"], "C": [1]}');
  assert.equal(problems.length, 2, problems.join(' | '));
  assert.match(problems[0]!, /"A"/);
  assert.match(problems[1]!, /"C"/);
});
