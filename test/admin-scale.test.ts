/**
 * The admin's users list at 100,000 users, on every database target (SQLite always, PostgreSQL
 * with TEST_DATABASE_URL): the pages answer, and every query behind them is an index range scan
 * with a LIMIT, never a scan of the table or a sort of it. Timings are printed as diagnostics
 * (`node --test` shows them), not asserted: machines differ.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { CompiledQuery, type KyselyPlugin, type QueryId, type RootOperationNode, type UnknownRow, type QueryResult } from 'kysely';
import { createUser } from '../src/accounts/users.ts';
import { listUsers } from '../src/accounts/user-list.ts';
import { failuresByCode, signInsPerDay } from '../src/audit/stats.ts';
import type { Db } from '../src/db/index.ts';
import { createSession } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { monthOfTraffic, seedEvents, seedUsers } from './support/seed.ts';

const USERS = 100_000;

/** Runs `work` on a Db that records every query it sends, and returns them compiled. */
async function capture(db: Db, work: (db: Db) => Promise<unknown>): Promise<CompiledQuery[]> {
  const nodes: { node: RootOperationNode; queryId: QueryId }[] = [];
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      nodes.push({ node: args.node, queryId: args.queryId });
      return args.node;
    },
    transformResult: async (args): Promise<QueryResult<UnknownRow>> => args.result,
  };
  await work(db.withPlugin(plugin));
  return nodes.map(({ node, queryId }) => db.getExecutor().compileQuery(node, queryId));
}

async function plan(db: Db, kind: 'sqlite' | 'postgres', query: CompiledQuery): Promise<string> {
  const prefix = kind === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
  const result = await db.executeQuery<Record<string, string>>(CompiledQuery.raw(prefix + query.sql, [...query.parameters]));
  return result.rows.map((r) => r['detail'] ?? r['QUERY PLAN']).join('\n');
}

for (const target of databaseTargets) {
  describe(`admin at ${USERS.toLocaleString('en-US')} users on ${target.name}`, { skip: target.skip, timeout: 120_000 }, () => {
    let database: TestDatabase;
    let t: TestApp;
    let db: Db;
    const staff = new HttpClient();

    before(async () => {
      database = await target.create();
      t = await startTestApp({ DATABASE_URL: database.url });
      db = t.database.db;
      const admin = await createUser(db, { username: 'admin', isStaff: true });
      staff.setCookie(t.url, 'oc_session', await createSession(db, t.config.session, { userId: admin.id }));
    });
    after(async () => {
      await t?.close();
      await database?.drop();
    });

    test('seeding 100,000 users in batched inserts', async (c: TestContext) => {
      const ms = await seedUsers(db, USERS, { batch: 2000 });
      c.diagnostic(`seeded ${USERS} users in ${ms.toFixed(0)} ms`);
      if (target.name === 'postgres') await db.executeQuery(CompiledQuery.raw('ANALYZE users'));
      const count = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      assert.equal(Number(count.n), USERS + 1);
    });

    test('the users list, its deep pages and its searches answer', async (c: TestContext) => {
      const timed = async (path: string) => {
        const started = performance.now();
        const hop = await staff.get(`${t.url}${path}`);
        const ms = performance.now() - started;
        assert.equal(hop.status, 200, path);
        const rows = [...hop.body.matchAll(/<a href="\/admin\/users\/\d+\/">([^<]+)<\/a>/g)].map((m) => m[1]!);
        const next = /href="([^"]+)" rel="next"/.exec(hop.body)?.[1]?.replace(/&amp;/g, '&') ?? null;
        c.diagnostic(`GET ${path.length > 70 ? `${path.slice(0, 70)}…` : path}: ${rows.length} rows in ${ms.toFixed(1)} ms`);
        return { rows, next };
      };
      await timed('/admin/users/'); // warm-up: template compilation, connection
      const first = await timed('/admin/users/');
      assert.equal(first.rows.length, 50);
      assert.deepEqual(first.rows.slice(0, 2), ['admin', 'user000001']);
      const second = await timed(first.next!);
      assert.equal(second.rows[0], 'user000050');
      // A deep page: the cursor of the 99,950th user costs what page two costs.
      const deep = await timed(`/admin/users/?phase=username&after=user099950&id=${99_950 + 1}`);
      assert.deepEqual([deep.rows[0], deep.rows.at(-1), deep.rows.length], ['user099951', 'user100000', 50]);
      assert.equal(deep.next, null);

      const prefix = await timed('/admin/users/?q=user0777');
      assert.deepEqual([prefix.rows[0], prefix.rows.length], ['user077700', 50]);
      const prefix2 = await timed(prefix.next!);
      assert.deepEqual([prefix2.rows[0], prefix2.rows.length], ['user077750', 50]);
      const email = await timed('/admin/users/?q=USER054321%40example');
      assert.deepEqual(email.rows, ['user054321']);
      const none = await timed('/admin/users/?q=zz-nobody');
      assert.deepEqual(none.rows, []);
    });

    test('every query behind the list is an index range scan with a LIMIT', async () => {
      const cases: [string, (d: Db) => Promise<unknown>][] = [
        ['first page', (d) => listUsers(d)],
        ['deep page', (d) => listUsers(d, { after: { phase: 'username', key: 'user090000', id: 90_001 } })],
        ['username prefix', (d) => listUsers(d, { q: 'user0777' })],
        ['email phase', (d) => listUsers(d, { q: 'user054321@example.com' })],
        ['email phase, continued', (d) => listUsers(d, { q: 'user0543', after: { phase: 'email', key: 'user054300@example.com', id: 54_301 } })],
      ];
      for (const [name, work] of cases) {
        const queries = await capture(db, work);
        assert.ok(queries.length >= 1, name);
        for (const query of queries) {
          assert.match(query.sql, /\blimit\b/i, `${name}: ${query.sql}`);
          const shown = await plan(db, target.name, query);
          if (target.name === 'sqlite') {
            assert.match(shown, /(SEARCH|SCAN) users USING INDEX users_(username|email)_lower/, `${name}:\n${shown}`);
            assert.doesNotMatch(shown, /TEMP B-TREE|SCAN users$/m, `${name}: no sort and no table scan:\n${shown}`);
          } else {
            assert.match(shown, /^Limit/, `${name}:\n${shown}`);
            assert.match(shown, /Index Scan using users_(username_lower|email_lower_c)/, `${name}:\n${shown}`);
            assert.doesNotMatch(shown, /Seq Scan|Sort/, `${name}: no sort and no table scan:\n${shown}`);
          }
        }
      }
    });

    test('the dashboard over a month of busy traffic', async (c: TestContext) => {
      // 90 days, as the default retention keeps: the dashboard reads the last third.
      const events = monthOfTraffic({ methods: ['default', 'local'], scale: 10, spikeDaysAgo: 4, days: 90 });
      await seedEvents(db, events);
      // As autovacuum would have by then: statistics, and a visibility map for index-only scans.
      if (target.name === 'postgres') await db.executeQuery(CompiledQuery.raw('VACUUM ANALYZE audit_log'));
      await staff.get(`${t.url}/admin/`);
      const started = performance.now();
      const hop = await staff.get(`${t.url}/admin/`);
      c.diagnostic(`GET /admin/ over ${events.length} events: ${(performance.now() - started).toFixed(1)} ms`);
      assert.equal(hop.status, 200);
      assert.match(hop.body, /Spike of failed sign-ins/);
      for (const work of [(d: Db) => signInsPerDay(d, 30), (d: Db) => failuresByCode(d, Date.now() - 30 * 86_400_000)]) {
        for (const query of await capture(db, work)) {
          const shown = await plan(db, target.name, query);
          if (target.name === 'sqlite') assert.match(shown, /USING COVERING INDEX audit_log_type_time/, shown);
          else assert.match(shown, /(Index Scan|Index Only Scan|Bitmap Index Scan) (using|on) audit_log_/, shown); // the planner picks which index
        }
      }
    });
  });
}
