import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient } from './support/http-client.ts';

const PEOPLE = 50;
const LOGINS = 500;
const REQUESTS = 1000;

/**
 * Bounded load on loopback: 500 complete code-flow logins at once (50 people, 10 logins each,
 * racing their first logins), then 1000 concurrent authenticated page loads.
 */
describe('load', () => {
  let s: DevStack;
  const people = Array.from({ length: PEOPLE }, (_, i) => ({
    email: `person${i}@example.com`, password: `password-${i}`, preferred_username: `person${i}`, given_name: 'Person', family_name: String(i),
  }));
  before(async () => {
    s = await startDevStack({}, people);
  });
  after(() => s.close());

  test(`${LOGINS} concurrent complete logins: no failure, no duplicate user`, async () => {
    const started = Date.now();
    const clients = Array.from({ length: LOGINS }, () => new HttpClient());
    const results = await Promise.allSettled(clients.map((client, i) => {
      const person = people[i % PEOPLE]!;
      return providerLogin(client, s.app.url, { email: person.email, password: person.password }, '/api/me');
    }));
    const seconds = (Date.now() - started) / 1000;
    const failures = results.filter((r) => r.status === 'rejected' || r.value.status !== 302);
    assert.equal(failures.length, 0, JSON.stringify(failures.slice(0, 3).map((f) => (f.status === 'rejected' ? String(f.reason) : f.value.status))));
    const users = await s.app.database.db.selectFrom('users').select('username').execute();
    assert.equal(users.length, PEOPLE, 'one user per person');
    assert.equal(new Set(users.map((u) => u.username)).size, PEOPLE);
    const identities = await s.app.database.db.selectFrom('identities').select('id').execute();
    assert.equal(identities.length, PEOPLE, 'one identity per person');
    console.log(`# ${LOGINS} concurrent logins in ${seconds.toFixed(1)} s (${(LOGINS / seconds).toFixed(0)}/s), 0 failures, ${users.length} users`);

    // 1000 concurrent authenticated requests, spread over the sessions just made.
    const start = Date.now();
    const pages = await Promise.allSettled(Array.from({ length: REQUESTS }, (_, i) => clients[i % LOGINS]!.get(`${s.app.url}/`)));
    const ms = Date.now() - start;
    const bad = pages.filter((p) => p.status === 'rejected' || p.value.status !== 200 || !/Hi person\d+ - person\d+@example\.com!/.test(p.value.body));
    assert.equal(bad.length, 0);
    console.log(`# ${REQUESTS} concurrent authenticated requests in ${ms} ms, 0 errors`);
  });
});
