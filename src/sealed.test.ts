import assert from 'node:assert/strict';
import { createDecipheriv, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { sealer } from './sealed.ts';

/**
 * HKDF-SHA256 written out from RFC 5869 §2.2–2.3 with plain HMAC (one block is enough for 32 bytes),
 * and A256GCM decryption as RFC 7516 §5.2 describes it: an implementation apart from jose's.
 */
function openByHand(secret: string, purpose: string, jwe: string): string {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(secret).digest();
  const key = createHmac('sha256', prk).update(`oidc-connect sealed ${purpose}`).update(Buffer.from([1])).digest();
  const [header, encryptedKey, iv, ciphertext, tag] = jwe.split('.');
  assert.equal(encryptedKey, '', 'dir: no encrypted key');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'));
  decipher.setAAD(Buffer.from(header!, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag!, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext!, 'base64url')), decipher.final()]).toString('utf8');
}

describe('sealed values', () => {
  const secret = 'a-session-secret-of-at-least-32-characters!';

  it('is a compact JWE with alg dir and enc A256GCM that RFC 5869 HKDF and AES-256-GCM, done by hand, decrypt', async () => {
    const sealed = await sealer(secret, 'session tokens').seal('{"access_token":"x"}');
    const [header] = sealed.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header!, 'base64url').toString()), { alg: 'dir', enc: 'A256GCM' });
    assert.equal(openByHand(secret, 'session tokens', sealed), '{"access_token":"x"}');
  });

  it('opens what it sealed, and two seals of one value differ (a fresh IV each)', async () => {
    const box = sealer(secret, 'totp');
    const [a, b] = [await box.seal('JBSWY3DPEHPK3PXP'), await box.seal('JBSWY3DPEHPK3PXP')];
    assert.notEqual(a, b);
    assert.equal(await box.open(a), 'JBSWY3DPEHPK3PXP');
    assert.equal(await box.open(b), 'JBSWY3DPEHPK3PXP');
  });

  it('opens nothing sealed for another purpose or under another secret, altered, or not a JWE', async () => {
    const sealed = await sealer(secret, 'totp').seal('JBSWY3DPEHPK3PXP');
    assert.equal(await sealer(secret, 'session tokens').open(sealed), undefined);
    assert.equal(await sealer(`${secret}x`, 'totp').open(sealed), undefined);
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[3]!, 'base64url');
    ciphertext[0]! ^= 1;
    parts[3] = ciphertext.toString('base64url');
    assert.equal(await sealer(secret, 'totp').open(parts.join('.')), undefined);
    assert.equal(await sealer(secret, 'totp').open('{"plain":"json"}'), undefined);
  });

  it('refuses an empty secret or purpose with a TypeError', () => {
    assert.throws(() => sealer('', 'totp'), TypeError);
    assert.throws(() => sealer(secret, ''), TypeError);
  });
});
