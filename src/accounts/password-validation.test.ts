import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { checkNewPassword, validatePassword } from './password-validation.ts';

// Expected values come from Django itself: test/support/django/validate_passwords.py runs Debian's
// python3-django's validate_password (3.2, with startproject's validators) on the same cases.
const PYTHON = '/usr/bin/python3';
const ORACLE = new URL('../../test/support/django/validate_passwords.py', import.meta.url).pathname;
const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());
const djangoMissing = spawnSync(PYTHON, ['-c', 'import django']).status === 0 ? undefined : 'Debian python3-django is not installed (.ci/run installs it)';

interface Owner { username: string; email: string; first_name: string; last_name: string }
interface Case { password: string; user: Owner | null }

function django(cases: Case[]): string[][] {
  const run = spawnSync(PYTHON, [ORACLE], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 24 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as string[][];
}

const user = (username: string, email = '', first_name = '', last_name = ''): Owner => ({ username, email, first_name, last_name });

const HAND_PICKED: Case[] = [
  // The case, and the common list (lower-cased and stripped before the lookup).
  { password: 'password', user: user('admin', 'admin@example.com') },
  { password: ' PassWord\t', user: null },
  { password: 'iloveyou\u3000', user: null },
  { password: 'iloveyou\x1c', user: null },
  { password: '\ufeffiloveyou', user: null },
  { password: 'correct horse battery staple', user: user('admin') },
  // Length counts code points.
  { password: '', user: null },
  { password: 'seven77', user: null },
  { password: '😀😀😀😀', user: null },
  { password: '😀😀😀😀😀😀😀😀', user: null },
  { password: 'e\u0301e\u0301e\u0301e\u0301', user: null },
  // Entirely numeric, as Python's str.isdigit() sees it.
  { password: '12345678901', user: null },
  { password: '٠١٢٣٤٥٦٧٨٩', user: null },
  { password: '²³¹⁰⁴⁵⁶⁷⁸⁹', user: null },
  { password: '①②③④⑤⑥⑦⑧', user: null },
  { password: '½½½½½½½½', user: null },
  { password: 'ⅠⅡⅢⅣⅤⅥⅦⅧ', user: null },
  { password: '𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕', user: null },
  { password: '1234 5678', user: null },
  // Similar to an attribute, a part of one (split on \W+), or not; the length-ratio shortcut.
  { password: 'alice2024', user: user('alice') },
  { password: 'ALICE.wonder', user: user('alice.wonder') },
  { password: 'wonderland', user: user('alice', 'alice@wonderland.example') },
  { password: 'examplecom', user: user('bob', 'bob@example.com') },
  { password: 'jeanluc!!', user: user('jlp', 'jlp@enterprise.example', 'Jean-Luc', 'Picard') },
  { password: 'picard1701', user: user('jlp', 'jlp@enterprise.example', 'Jean-Luc', 'Picard') },
  { password: 'a'.repeat(30), user: user('aa') },
  { password: 'a'.repeat(29), user: user('aaa') },
  { password: 'ab'.repeat(10), user: user('ab') },
  { password: 'x'.repeat(70), user: user('xxxxxxx') },
  { password: 'carol password', user: user('carol', 'carol@example.com') },
  { password: 'root password', user: user('root', 'root@example.com') },
  // Python's \w is Unicode-aware; its lower() maps İ to two code points, Σ finally to ς.
  { password: 'istanbul1', user: user('İstanbul') },
  { password: 'i̇stanbul!', user: user('İstanbul') },
  { password: 'ΟΔΥΣΣΕΥΣ!', user: user('οδυσσευς') },
  { password: 'müller-lüdenscheidt', user: user('max', 'max@müller.example', 'Max', 'Müller-Lüdenscheidt') },
  { password: '山田太郎です', user: user('yamada', '', '太郎', '山田') },
  { password: 'straße42!', user: user('strasse') },
  { password: 'co_op_2024', user: user('co_op') },
  // An attribute that starts with a separator has an empty first part: an empty password is "too similar".
  { password: '', user: user('.hidden') },
  { password: 'something long', user: user('') },
];

/** A small deterministic generator (mulberry32), so that the cases are the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Passwords made from the account's own fields, mutated: near and across the 0.7 bound. */
function generated(count: number): Case[] {
  const next = random(17);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const names = ['alice', 'Bob', 'carol.danvers', 'dave_42', 'Ève', 'frank+ops', 'gina-lollo', 'hank', 'ilse.müller', 'jürgen'];
  const words = ['summer', 'dragon', 'monkey', 'secret', 'letmein', 'trustno1', 'football', 'qwerty'];
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const name = pick(names);
    const domain = pick(['example.com', 'mail.example.org', 'b.co']);
    const owner = user(name, `${name.toLowerCase()}@${domain}`, pick(['', 'Alice', 'Robert', 'Marie-Claire']), pick(['', 'Smith', 'Danvers', "O'Neil"]));
    let password = pick([name, name.toUpperCase(), owner.email, domain, pick(words), name.split('').reverse().join('')]);
    const edits = Math.floor(next() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * (password.length + 1));
      password = next() < 0.6
        ? password.slice(0, at) + pick(['1', '!', 'x', '2024', ' ', 'ä', '😀', '.']) + password.slice(at)
        : password.slice(0, at) + password.slice(at + 1);
    }
    cases.push({ password, user: next() < 0.1 ? null : owner });
  }
  return cases;
}

test("Django's validators: the same messages as Django's validate_password, case by case", { skip: inCi ? undefined : djangoMissing }, () => {
  const cases = [...HAND_PICKED, ...generated(400)];
  const expected = django(cases);
  for (const [i, c] of cases.entries()) {
    assert.deepEqual(validatePassword(c.password, c.user), expected[i], `case ${i}: ${JSON.stringify(c)}`);
  }
  // The cases reach every validator, both ways.
  const all = expected.flat();
  for (const message of ['too similar', 'too short', 'too common', 'entirely numeric']) {
    assert.ok(all.some((m) => m.includes(message)), message);
  }
  assert.ok(expected.filter((m) => m.length === 0).length > 50, 'and many pass');
});

test('checkNewPassword: PASSWORD_INVALID with all of the messages, or a blank password refused as Django does', () => {
  assert.throws(() => checkNewPassword('12345', { username: 'u' }), {
    code: 'PASSWORD_INVALID',
    message: 'This password is too short. It must contain at least 8 characters. This password is too common. This password is entirely numeric.',
  });
  assert.throws(() => checkNewPassword(' \t'), { code: 'PASSWORD_INVALID', message: "Blank passwords aren't allowed." });
  assert.doesNotThrow(() => checkNewPassword('a long and unusual phrase', { username: 'u', email: 'u@example.com' }));
});
