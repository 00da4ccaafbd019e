import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DJANGO_PREFIX, parseDjangoHash, verifyDjangoPassword } from './django-hashers.ts';

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
    ['argon2$argon2id$v=19$m=99999999,t=1,p=2$UHR5ZjV6U0xPeDBqMlAxMVZtOXQySQ$KiHkMQfnMS8+O7qWmZScgQ', 'corrupt'],
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
