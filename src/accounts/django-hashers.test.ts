import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOidcConnectError } from '../errors.ts';
import { DJANGO_PREFIX, HASH_LIMITS, parseDjangoHash, verifyDjangoPassword } from './django-hashers.ts';

// Made by Django 3.2's make_password() with low-cost subclasses of its hashers (scrypt: hashlib.scrypt
// encoded as Django 4.0+'s ScryptPasswordHasher does). test/import-django.test.ts covers Django's defaults.
const PASSWORD = 'pässwörd ☃';
const HASHES = {
  pbkdf2_sha256: 'pbkdf2_sha256$1000$fNfm5KpRGzPRclfyRGUeNo$rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU=',
  pbkdf2_sha1: 'pbkdf2_sha1$1000$ICzBoJPY7KQDRuZYug5EVX$1K6D58sFr3opYjn0b4zcGww2sHk=',
  argon2: 'argon2$argon2id$v=19$m=1024,t=1,p=2$UHR5ZjV6U0xPeDBqMlAxMVZtOXQySQ$KiHkMQfnMS8+O7qWmZScgQ',
  bcrypt_sha256: 'bcrypt_sha256$$2b$04$IMOF0fs7WPCnqRK.mMjvOuUJsgmB24lGQb2.EDd6bo5bLg9Ue1gFu',
  bcrypt: 'bcrypt$$2b$04$Zq9YCKzDkaE0FciK/JmJp./AwWxNFs5A5Xj7HQjcIr25aAcONG8mK',
  scrypt: 'scrypt$1024$Kq3bX9sLmN0pQrStUvWxYz$8$5$y5wJgpJi5fMichjkhH4HFKAytyo8E03HYhvhZmryU83XNN/EPY8DwUCkTwdEATYg+c+UbxRwM8s7N1b6+8fnSg==',
};

for (const [algorithm, hash] of Object.entries(HASHES)) {
  test(`${algorithm}: Django's hash verifies its password and no other`, async () => {
    assert.equal(parseDjangoHash(hash).kind, 'usable');
    assert.equal(await verifyDjangoPassword(PASSWORD, DJANGO_PREFIX + hash), true);
    assert.equal(await verifyDjangoPassword(`${PASSWORD} `, DJANGO_PREFIX + hash), false);
    assert.equal(await verifyDjangoPassword(PASSWORD.normalize('NFD'), DJANGO_PREFIX + hash), false, 'no normalisation, as Django');
  });
}

test('unusable, weak and corrupt values never verify, and say which they are', async () => {
  const cases: Array<[string, string]> = [
    ['!', 'unusable'],
    ['!Xq7kR2vNn0pGz6u8ZbYQ1c4W3eTjHsLmA9dFoK5i', 'unusable'],
    ['', 'unusable'],
    ['md5$4TWRpWGVSp580S1Fr3MRa3$d8a9b81bb8c77df80101407d86e390aa', 'weak'],
    ['5f4dcc3b5aa765d61d8327deb882cf99', 'weak'],
    ['sha1$$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8', 'weak'],
    ['pbkdf2_sha256$1000$salt$tooshort', 'corrupt'],
    ['pbkdf2_sha256$notanumber$salt$rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU=', 'corrupt'],
    ['pbkdf2_sha256$1000$$rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU=', 'corrupt'],
    ['argon2$argon2id$v=16$m=1024,t=1,p=2$UHR5ZjV6U0xPeDBqMlAxMVZtOXQySQ$KiHkMQfnMS8+O7qWmZScgQ', 'corrupt'],
    ['bcrypt_sha256$$2b$04$short', 'corrupt'],
    ['scrypt$1000$salt$8$1$y5wJgpJi5fMichjkhH4HFKAytyo8E03HYhvhZmryU83XNN/EPY8DwUCkTwdEATYg+c+UbxRwM8s7N1b6+8fnSg==', 'corrupt'],
    ['rot13$abc', 'corrupt'],
    ['garbage', 'corrupt'],
  ];
  for (const [encoded, kind] of cases) {
    assert.equal(parseDjangoHash(encoded).kind, kind, encoded);
    assert.equal(await verifyDjangoPassword('password', DJANGO_PREFIX + encoded), false, encoded);
  }
});

// Made by Django 3.2's make_password() with its default hashers' own parameters, and PBKDF2 with Django 6.2's
// 1,800,000 iterations (its PBKDF2PasswordHasher with `iterations` set); scrypt with Django 4.0+'s defaults,
// encoded as its ScryptPasswordHasher does (hashlib.scrypt, N=2^14, r=8, p=1).
const DJANGO_DEFAULTS = {
  'pbkdf2_sha256 (Django 3.2)': 'pbkdf2_sha256$260000$YDc0qIQAUkdXEAwHDyDbXx$ov92he8GuXlFxfJuKbsM4XyT39AKli5RCZMBQRuX5Ko=',
  'pbkdf2_sha256 (Django 6.2)': 'pbkdf2_sha256$1800000$Kq3bX9sLmN0pQrStUvWxYz$RTNIaPLdsrAsSHOOmYJ6/LTZ+mjrOCsqafqv5x4bXEU=',
  argon2: 'argon2$argon2id$v=19$m=102400,t=2,p=8$QlhYc1BqR0F1bkhLdzB6Zm01M2Mzcg$8JVTcbVrUknqh7+Mb71m5w',
  bcrypt_sha256: 'bcrypt_sha256$$2b$12$.TQVGKxfnQR0B3K3d5GgQua0rJzBPv.TepTOJ/0kkSAlpmgTTRS0y',
  scrypt: 'scrypt$16384$Kq3bX9sLmN0pQrStUvWxYz$8$1$ZcpRZZFKHT1bdTFKbuUBWNEkqea2dKFsgJPx2Z2yCxycTViOxMetW9lv1ZPD13WoJVyyhykBYYBt2emP5X8sYQ==',
};

test("every hasher's Django defaults are within the limits, and verify", async () => {
  for (const [name, hash] of Object.entries(DJANGO_DEFAULTS)) {
    assert.equal(parseDjangoHash(hash).kind, 'usable', name);
    assert.equal(await verifyDjangoPassword(PASSWORD, DJANGO_PREFIX + hash), true, name);
  }
});

test('a hash asking for more work than the limits is refused unchecked, with PASSWORD_HASH_REFUSED', async () => {
  const salt = 'UHR5ZjV6U0xPeDBqMlAxMVZtOXQySQ';
  const hash = 'KiHkMQfnMS8+O7qWmZScgQ';
  const key32 = 'rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU=';
  const key64 = 'y5wJgpJi5fMichjkhH4HFKAytyo8E03HYhvhZmryU83XNN/EPY8DwUCkTwdEATYg+c+UbxRwM8s7N1b6+8fnSg==';
  const bcryptTail = 'IMOF0fs7WPCnqRK.mMjvOuUJsgmB24lGQb2.EDd6bo5bLg9Ue1gFu';
  // [at the limit: usable, one step beyond: too-costly]
  const pairs: Array<[string, string]> = [
    [`pbkdf2_sha256$${HASH_LIMITS.pbkdf2Iterations}$salt$${key32}`, `pbkdf2_sha256$${HASH_LIMITS.pbkdf2Iterations + 1}$salt$${key32}`],
    [`bcrypt_sha256$$2b$${HASH_LIMITS.bcryptCost}$${bcryptTail}`, `bcrypt_sha256$$2b$${HASH_LIMITS.bcryptCost + 1}$${bcryptTail}`],
    [`bcrypt$$2b$13$${bcryptTail}`, `bcrypt$$2b$31$${bcryptTail}`],
    [`argon2$argon2id$v=19$m=204800,t=2,p=8$${salt}$${hash}`, `argon2$argon2id$v=19$m=204800,t=3,p=8$${salt}$${hash}`],
    [`argon2$argon2id$v=19$m=262144,t=1,p=16$${salt}$${hash}`, `argon2$argon2id$v=19$m=262152,t=1,p=16$${salt}$${hash}`],
    [`argon2$argon2id$v=19$m=1024,t=400,p=16$${salt}$${hash}`, `argon2$argon2id$v=19$m=1024,t=100000,p=2$${salt}$${hash}`],
    [`argon2$argon2i$v=19$m=1024,t=1,p=16$${salt}$${hash}`, `argon2$argon2i$v=19$m=1024,t=1,p=17$${salt}$${hash}`],
    [`scrypt$65536$salt$8$1$${key64}`, `scrypt$65536$salt$8$2$${key64}`],
    [`scrypt$131072$salt$4$1$${key64}`, `scrypt$262144$salt$4$1$${key64}`],
    [`scrypt$16384$salt$8$4$${key64}`, `scrypt$16384$salt$8$1000$${key64}`],
  ];
  for (const [within, beyond] of pairs) {
    assert.equal(parseDjangoHash(within).kind, 'usable', within);
    const parsed = parseDjangoHash(beyond);
    assert.equal(parsed.kind, 'too-costly', beyond);
    await assert.rejects(verifyDjangoPassword('password', DJANGO_PREFIX + beyond), (error: Error) => {
      assert.ok(isOidcConnectError(error) && error.code === 'PASSWORD_HASH_REFUSED', String(error));
      assert.match(error.message, /An administrator must set a new password\.$/);
      return true;
    });
  }
  // The examples: 10^8 PBKDF2 iterations took 33 s; bcrypt cost 31 would take years.
  assert.deepEqual(parseDjangoHash(`pbkdf2_sha256$100000000$salt$${key32}`), {
    kind: 'too-costly', algorithm: 'pbkdf2_sha256', reason: '100000000 iterations; at most 4000000',
  });
});

test('an argon2 or bcrypt check that outlives its deadline ends its worker with PASSWORD_HASH_TIMEOUT; the next one runs', async () => {
  // Starting a worker thread alone takes far longer than 1 ms.
  await assert.rejects(verifyDjangoPassword(PASSWORD, DJANGO_PREFIX + HASHES.argon2, { deadlineMs: 1 }), (error: Error) => {
    assert.ok(isOidcConnectError(error) && error.code === 'PASSWORD_HASH_TIMEOUT' && error.status === 503, String(error));
    assert.ok(error.retryAfterSeconds! > 0);
    return true;
  });
  await assert.rejects(verifyDjangoPassword(PASSWORD, DJANGO_PREFIX + HASHES.bcrypt, { deadlineMs: 1 }), { code: 'PASSWORD_HASH_TIMEOUT' });
  assert.equal(await verifyDjangoPassword(PASSWORD, DJANGO_PREFIX + HASHES.argon2), true);
});
