import assert from 'node:assert/strict';
import { test } from 'node:test';

import { promptConsentForOfflineAccess } from './router.ts';

const rewrite = (query: string): string => {
  const search = new URLSearchParams(query);
  promptConsentForOfflineAccess(search);
  return search.get('prompt') ?? '';
};

test('offline_access gets prompt=consent, so oidc-provider keeps it', () => {
  assert.equal(rewrite('scope=openid+offline_access'), 'consent');
  assert.equal(rewrite('scope=openid+offline_access&prompt=login'), 'login consent');
  assert.equal(rewrite('scope=openid+offline_access&prompt=consent'), 'consent');
});

test('other requests are left alone', () => {
  assert.equal(rewrite('scope=openid+profile'), '');
  assert.equal(rewrite('scope=openid+offline_access&prompt=none'), 'none');
});
