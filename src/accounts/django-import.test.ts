import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImportPlanner, type DjangoUser, type ImportTarget, type ImportTargets } from './django-import.ts';

const django = (id: number, username: string, email: string, extra: Partial<DjangoUser> = {}): DjangoUser => ({
  id, username, email, firstName: '', lastName: '', password: 'pbkdf2_sha256$1000$salt$rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU=',
  isActive: true, isStaff: false, isSuperuser: false, dateJoined: 1_000, lastLogin: null, groups: [], ...extra,
});

const here = (id: number, username: string, email: string, extra: Partial<ImportTarget> = {}): ImportTarget => ({
  id, username, email, email_key: email.toLowerCase(), email_verified: 1, first_name: '', last_name: '', password: null,
  is_active: 1, is_staff: 0, is_superuser: 0, last_login: null, date_joined: 500, source: 'local', external_id: null, nick_name: '',
  display_name: '', deleted: null, modified: 500, rule_roles: '[]', djangoId: null, groups: [], hasIdentity: false, ...extra,
});

function targets(...users: ImportTarget[]): ImportTargets {
  const t: ImportTargets = { byDjangoId: new Map(), byUsername: new Map(), byEmail: new Map() };
  for (const u of users) {
    if (u.djangoId !== null) t.byDjangoId.set(u.djangoId, u);
    t.byUsername.set(u.username, u);
    t.byEmail.set(u.email_key, [...(t.byEmail.get(u.email_key) ?? []), u]);
  }
  return t;
}

const planner = (mergeInto: string[] = []) => new ImportPlanner({ emailsVerified: true, mergeInto: new Set(mergeInto) });

test('a username taken here by another email, or split from its email, is skipped, never merged', () => {
  const taken = planner().plan(django(1, 'bob', 'bob@example.com'), targets(here(7, 'bob', 'robert@example.org')));
  assert.deepEqual([taken.action, taken.action === 'skip' && taken.reason], ['skip', 'the username is taken here by a user with another email (robert@example.org)']);
  const split = planner().plan(django(1, 'bob', 'bob@example.com'), targets(here(7, 'bob', ''), here(8, 'robert', 'bob@example.com')));
  assert.equal(split.action, 'skip');
  const twice = planner().plan(django(1, 'new', 'x@example.com'), targets(here(7, 'a', 'x@example.com'), here(8, 'b', 'X@example.com')));
  assert.match(twice.action === 'skip' ? twice.reason : '', /2 users here have the email/);
});

test('the same email on two Django users: the first by id wins, across batches too', () => {
  const p = planner();
  assert.equal(p.plan(django(1, 'first', 'Same@Example.com'), targets()).action, 'create');
  const second = p.plan(django(2, 'second', 'same@example.com'), targets());
  assert.deepEqual(second, { action: 'skip', django: django(2, 'second', 'same@example.com'), reason: 'the email same@example.com is also on Django user #1, imported first' });
});

test('an existing user with the same email is updated: profile, flags, earliest join, latest login', () => {
  const target = here(7, 'alice', 'alice@example.com', { last_login: 9_000, date_joined: 2_000 });
  const plan = planner().plan(django(3, 'alice', 'ALICE@example.com', { isStaff: true, lastLogin: 5_000, dateJoined: 1_000, groups: ['editors'] }), targets(target));
  assert.equal(plan.action, 'update');
  if (plan.action !== 'update') return;
  assert.deepEqual(plan.set, { email: 'ALICE@example.com', password: `django$${django(0, '', '').password}`, is_staff: 1, date_joined: 1_000 });
  assert.deepEqual(plan.changes, ['email', 'password', 'is_staff', 'date_joined', 'groups']);
  assert.equal(plan.mapping, true);
});

test('a password set or rehashed here is kept; a Django hash still here follows Django', () => {
  const ours = here(7, 'carol', 'carol@example.com', { djangoId: 3, password: 'scrypt$131072$8$1$salt$hash' });
  const kept = planner().plan(django(3, 'carol', 'carol@example.com', { password: 'md5$x$y' }), targets(ours));
  assert.equal(kept.action === 'unchanged' && kept.password.kind, 'kept');
  const theirs = here(7, 'carol', 'carol@example.com', { djangoId: 3, password: 'django$pbkdf2_sha256$1$old$hash' });
  const follows = planner().plan(django(3, 'carol', 'carol@example.com', { password: 'md5$x$y' }), targets(theirs));
  assert.equal(follows.action, 'update');
  assert.deepEqual(follows.action === 'update' && [follows.set, follows.password], [{ password: null }, { kind: 'must-reset', algorithm: 'md5' }]);
});

test('an imported user renamed in Django is followed by its Django id', () => {
  const plan = planner().plan(django(3, 'caroline', 'carol@example.com'), targets(here(7, 'carol', 'carol@example.com', { djangoId: 3 })));
  assert.equal(plan.action, 'update');
  assert.deepEqual(plan.action === 'update' && plan.changes, ['username', 'password']);
  const otherDjango = planner().plan(django(4, 'carol', 'c2@example.com'), targets(here(7, 'carol', 'c2@example.com', { djangoId: 3 })));
  assert.match(otherDjango.action === 'skip' ? otherDjango.reason : '', /was imported from Django user #3/);
});

test('--emails-unverified leaves emails unverified, except on accounts mozilla-django-oidc created', () => {
  const p = new ImportPlanner({ emailsVerified: false, mergeInto: new Set() });
  const local = p.plan(django(1, 'dave', 'dave@example.com'), targets());
  const provider = p.plan(django(2, '_COYpz3VTWI3xP21j9fXU0fPWvM', 'alice@example.com', { password: '!unusable', providerUsername: 'mozilla-django-oidc' }), targets());
  assert.equal(local.action === 'create' && local.values.email_verified, 0);
  assert.equal(provider.action === 'create' && provider.values.email_verified, 1);
  assert.equal(provider.action === 'create' && provider.password.kind, 'unusable');
});

test('an unverified email, no email, or a provider identity here: skipped unless --merge-into names that account', () => {
  const cases: Array<[ImportTarget, string]> = [
    [here(7, 'mallory', 'boss@example.com', { email_verified: 0 }), 'its email boss@example.com is not verified'],
    [here(7, 'boss', '', { email_key: '', email_verified: 0 }), 'it has no email'],
    [here(7, 'pat', 'boss@example.com', { hasIdentity: true }), 'it signs in through a provider'],
    [here(7, 'mallory', 'boss@example.com', { email_verified: 0, hasIdentity: true }), 'its email boss@example.com is not verified and it signs in through a provider'],
  ];
  const boss = django(1, 'boss', 'boss@example.com', { isSuperuser: true });
  for (const [target, doubt] of cases) {
    const plan = planner().plan(boss, targets(target));
    assert.deepEqual(plan, {
      action: 'skip', django: boss, confirm: target.username,
      reason: `matches user #7 "${target.username}" here, but ${doubt}: merged only with --merge-into=${target.username}, once you know they are the same person`,
    });
    // Another account's name confirms nothing; this account's name does.
    assert.equal(planner(['someone-else']).plan(boss, targets(target)).action, 'skip');
    const confirmed = planner([target.username]);
    const merged = confirmed.plan(boss, targets(target));
    assert.equal(merged.action, 'update');
    assert.deepEqual(merged.action === 'update' && [merged.userId, merged.set.is_superuser], [7, 1]);
    assert.deepEqual(confirmed.unusedMergeInto(), []);
  }
  // A verified email and no identity: merged without asking, as before.
  assert.equal(planner().plan(boss, targets(here(7, 'boss', 'boss@example.com'))).action, 'update');
  // An account imported before is followed by its Django id, whatever its email or identities now.
  assert.equal(planner().plan(boss, targets(here(7, 'boss', 'boss@example.com', { djangoId: 1, email_verified: 0, hasIdentity: true }))).action, 'update');
  assert.deepEqual(planner(['ghost']).unusedMergeInto(), ['ghost']);
});
