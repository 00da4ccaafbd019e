/**
 * Run by test/test-runner.test.ts through scripts/test.ts, never by npm test's own globs (it does not
 * end in .test.ts): a PostgreSQL suite, a test that skips itself and a todo, for the runner to count.
 * With FIXTURE_HOLD set, the PostgreSQL test says so on stdout once it has reached the database, and
 * then waits, for the runner to be interrupted.
 */
import { describe, test } from 'node:test';
import { postgresTarget } from './postgres.ts';

describe('a PostgreSQL suite', { skip: postgresTarget.skip }, () => {
  test('reaches the database', async () => {
    const database = await postgresTarget.create();
    await database.drop();
    if (process.env['FIXTURE_HOLD']) {
      console.log('fixture: holding');
      await new Promise(() => setInterval(() => {}, 1000));
    }
  });
});

test('a test that skips itself', (t) => {
  t.skip('the fixture says so');
});

test('a test for later', { todo: 'one day' }, () => {});
