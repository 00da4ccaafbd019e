import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import type { User } from '../db/schema.ts';
import { decodeUid, emailVerificationTokens, encodeUid, passwordResetTokens } from './tokens.ts';

const SESSION_SECRET = 'test-secret-test-secret-test-secret-1234';
const user: User = {
  id: 42, username: 'carol', email: 'carol@example.com', email_key: 'carol@example.com', email_verified: 1, first_name: '', last_name: '',
  password: 'scrypt$131072$8$1$c2FsdA$aGFzaA', is_active: 1, is_staff: 0, is_superuser: 0,
  last_login: Date.UTC(2026, 2, 5, 14, 3, 9, 777), date_joined: Date.UTC(2025, 0, 1),
  source: 'local', external_id: null, nick_name: '', display_name: '', deleted: null, modified: Date.UTC(2025, 0, 1), rule_roles: '[]',
};
const NOW = Date.UTC(2026, 2, 6, 9, 30, 0, 250);

/**
 * Django's own PasswordResetTokenGenerator (Debian's python3-django) for this user and time, with the
 * secret derived from SESSION_SECRET by RFC 5869 HKDF written out with Python's hmac: the expected
 * tokens come from outside this code.
 */
const DJANGO = String.raw`
import hashlib, hmac, json, sys
from datetime import datetime, timezone
from django.conf import settings
settings.configure(SECRET_KEY='unused', DEFAULT_HASHING_ALGORITHM='sha256', PASSWORD_RESET_TIMEOUT=3600)
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.http import urlsafe_base64_encode

args = json.loads(sys.argv[1])
prk = hmac.new(b'\0' * 32, args['session_secret'].encode(), hashlib.sha256).digest()
secret = hmac.new(prk, b'oidc-connect password reset links\x01', hashlib.sha256).hexdigest()

class User:
    pk = args['id']
    password = args['password']
    email = args['email']
    last_login = datetime.fromtimestamp(args['last_login'] / 1000, timezone.utc)
    def get_email_field_name(self): return 'email'

now = datetime.fromtimestamp(args['now'] / 1000, timezone.utc).replace(tzinfo=None)
class Generator(PasswordResetTokenGenerator):
    def _now(self): return now
generator = Generator()
generator.secret = secret
token = generator.make_token(User())
later = Generator()
later.secret = secret
later._now = lambda: datetime.fromtimestamp((args['now'] + args['later']) / 1000, timezone.utc).replace(tzinfo=None)
print(json.dumps({
    'token': token,
    'checks_ours': generator.check_token(User(), args['ours']),
    'ours_later': later.check_token(User(), args['ours']),
    'uid': urlsafe_base64_encode(str(args['id']).encode()),
}))
`;

const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());
const djangoMissing = spawnSync('/usr/bin/python3', ['-c', 'import django']).status === 0 ? undefined : 'Debian python3-django is not installed (.ci/run installs it)';

test('password reset tokens are the ones Django makes for the same secret, and Django accepts ours', { skip: inCi ? undefined : djangoMissing }, () => {
  const links = passwordResetTokens(SESSION_SECRET, 3600);
  const ours = links.make(user, NOW);
  const run = spawnSync('/usr/bin/python3', ['-c', DJANGO, JSON.stringify({
    session_secret: SESSION_SECRET, id: user.id, password: user.password, email: user.email, last_login: user.last_login, now: NOW, ours, later: 3601_000,
  })], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const django = JSON.parse(run.stdout) as { token: string; checks_ours: boolean; ours_later: boolean; uid: string };
  assert.equal(ours, django.token);
  assert.match(ours, /^[0-9a-z]+-[0-9a-f]{32}$/);
  assert.equal(django.checks_ours, true);
  assert.equal(django.ours_later, false, 'Django refuses it after PASSWORD_RESET_TIMEOUT');
  assert.equal(encodeUid(user.id), django.uid);
});

test('a reset token works until the timeout, for this user as they are, and not once the password, last login or email changed', () => {
  const links = passwordResetTokens(SESSION_SECRET, 3600);
  const token = links.make(user, NOW);
  assert.equal(links.check(user, token, NOW), true);
  assert.equal(links.check(user, token, NOW + 3600_000), true, 'exactly the timeout');
  assert.equal(links.check(user, token, NOW + 3601_000), false, 'past the timeout');
  assert.equal(links.check({ ...user, password: 'scrypt$131072$8$1$c2FsdA$bmV3' }, token, NOW), false, 'new password');
  assert.equal(links.check({ ...user, last_login: user.last_login! + 60_000 }, token, NOW), false, 'signed in since');
  assert.equal(links.check({ ...user, email: 'mallory@example.com' }, token, NOW), false, 'another email');
  assert.equal(links.check({ ...user, id: 43 }, token, NOW), false, 'another user');
  assert.equal(passwordResetTokens('another-secret-another-secret-another-1', 3600).check(user, token, NOW), false, 'another SESSION_SECRET');
  assert.equal(emailVerificationTokens(SESSION_SECRET).check(user, token, NOW), false, 'a reset token is no verification token');
});

test('a tampered reset token is refused', () => {
  const links = passwordResetTokens(SESSION_SECRET, 3600);
  const token = links.make(user, NOW);
  const [ts, hash] = token.split('-') as [string, string];
  const newer = (parseInt(ts, 36) + 3600).toString(36);
  for (const bad of [
    `${newer}-${hash}`, `${ts}-${hash.slice(0, -1)}${hash.at(-1) === '0' ? '1' : '0'}`, `${ts}-${hash}0`, `${ts}${hash}`, `${ts}-${hash}-x`,
    `-${hash}`, `${'z'.repeat(14)}-${hash}`, '', 'set-password', `${ts.toUpperCase()}-${hash}`,
  ]) {
    assert.equal(links.check(user, bad, NOW), false, bad);
  }
});

test('an email verification token ends once the email is verified or changed, and after three days', () => {
  const unverified: User = { ...user, email_verified: 0 };
  const links = emailVerificationTokens(SESSION_SECRET);
  const token = links.make(unverified, NOW);
  assert.equal(links.check(unverified, token, NOW + 3 * 86_400_000), true);
  assert.equal(links.check(unverified, token, NOW + 3 * 86_400_000 + 1000), false);
  assert.equal(links.check({ ...unverified, email_verified: 1 }, token, NOW), false);
  assert.equal(links.check({ ...unverified, email: 'other@example.com' }, token, NOW), false);
});

test('uidb64 is the id in unpadded base64url; anything that encodeUid would not make is refused', () => {
  assert.equal(encodeUid(1), 'MQ');
  assert.equal(encodeUid(123), 'MTIz');
  assert.equal(decodeUid('MTIz'), 123);
  for (const bad of ['', 'MTIz=', 'MTIz.', 'LTE', 'MDE', 'YQ', 'MTIzA', 'x'.repeat(30), '%4D%51']) assert.equal(decodeUid(bad), undefined, bad);
});
