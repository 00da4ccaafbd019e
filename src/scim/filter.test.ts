/**
 * SCIM filters (RFC 7644 §3.4.2.2) from the string a client sends to the users it matches: parsed,
 * mapped onto the directory's allow-list (filter.ts), and run by accounts/directory.ts on a real
 * database, SQLite and PostgreSQL. Expected matches follow the RFC: userName and emails compare
 * without regard to case, externalId exactly (RFC 7643 §4.1, §3.1 caseExact), `and` binds tighter
 * than `or`, `pr` means "has a non-empty value", and a filter on anything else is invalidFilter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDirectoryUser, findDirectoryUsers, markUserDeleted, type DirectoryProfile } from '../accounts/directory.ts';
import { migrate, type DatabaseHandle } from '../db/index.ts';
import { databaseTargets, openTestDatabase, type TestDatabase } from '../../test/support/postgres.ts';
import { ScimError } from './errors.ts';
import { parseFilter, userCondition } from './filter.ts';

const at = (iso: string) => Date.parse(iso);
const profile = (p: Partial<DirectoryProfile> & { username: string }): DirectoryProfile => ({
  externalId: null, email: '', firstName: '', lastName: '', displayName: '', nickName: '', active: true, ...p,
});

/** The directory: who they are, and when each was last modified. */
const USERS: [DirectoryProfile, number][] = [
  [profile({ username: 'ann', externalId: 'ext-ann', email: 'Ann@Work.example', displayName: 'Ann "The" Smith', lastName: 'Smith' }), at('2024-01-01T00:00:00Z')],
  [profile({ username: 'bob', email: 'bob@home.example', displayName: '100% Bob', active: false }), at('2024-06-01T00:00:00Z')],
  [profile({ username: 'Cy.Jones', externalId: 'ext-cy', nickName: 'cy' }), at('2025-01-01T00:00:00Z')],
  [profile({ username: 'dee', externalId: 'ext-dee', email: 'dee@work.example' }), at('2024-02-01T00:00:00Z')],
];

/** filter → the userNames it matches (dee is deleted: she never matches). */
const MATCHES: [string, string[]][] = [
  ['userName eq "ann"', ['ann']],
  ['userName eq "ANN"', ['ann']],
  ['USERNAME eq "ann"', ['ann']],
  ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann"', ['ann']],
  ['userName ne "ann"', ['bob', 'Cy.Jones']],
  ['userName co "O"', ['bob', 'Cy.Jones']],
  ['userName sw "c"', ['Cy.Jones']],
  ['userName ew "N"', ['ann']],
  ['userName gt "bob"', ['Cy.Jones']],
  ['userName ge "bob"', ['bob', 'Cy.Jones']],
  ['userName lt "bob"', ['ann']],
  ['userName le "bob"', ['ann', 'bob']],
  ['userName eq "dee"', []],
  ['externalId eq "ext-ann"', ['ann']],
  ['externalId eq "EXT-ANN"', []],
  ['externalId pr', ['ann', 'Cy.Jones']],
  ['not (externalId pr)', ['bob']],
  ['emails.value pr', ['ann', 'bob']],
  ['not (emails pr)', ['Cy.Jones']],
  ['emails.value eq "ann@work.example"', ['ann']],
  ['emails[type eq "work"].value eq "ANN@WORK.EXAMPLE"', ['ann']],
  ['emails[type eq "work" and value co "@home"]', ['bob']],
  ['emails[type eq "home"]', []],
  ['emails[primary eq true]', ['ann', 'bob']],
  ['active eq false', ['bob']],
  ['active eq true and not (userName sw "c")', ['ann']],
  ['not (active eq true)', ['bob']],
  ['nickName eq "cy"', ['Cy.Jones']],
  ['name.familyName eq "smith"', ['ann']],
  ['displayName co "\\"The\\""', ['ann']],
  ['displayName co "%"', ['bob']],
  ['displayName co "_"', []],
  ['displayName sw "1%"', []],
  // Grouping: `and` binds tighter than `or`, and parentheses change that.
  ['userName eq "ann" or userName eq "bob" and active eq true', ['ann']],
  ['(userName eq "ann" or userName eq "bob") and active eq false', ['bob']],
  ['not (userName eq "ann" or (userName eq "bob" and active eq false))', ['Cy.Jones']],
  ['meta.lastModified gt "2024-03-01T00:00:00Z"', ['bob', 'Cy.Jones']],
  ['meta.lastModified ge "2024-06-01T00:00:00Z"', ['bob', 'Cy.Jones']],
  ['meta.lastModified lt "2024-06-01T00:00:00.000+00:00"', ['ann']],
  ['meta.lastModified gt "2025-01-01T00:00:00Z"', []],
  // What looks like SQL inside a string is a value to compare, nothing more.
  ['userName eq "x\\" or 1=1 --"', []],
  ['userName eq "ann\' OR \'1\'=\'1"', []],
  ['displayName eq "Ann \\"The\\" Smith\' --"', []],
];

/** Filters refused as 400 invalidFilter before any query runs. */
const INVALID: string[] = [
  'userName eq "x" or 1 eq 1',
  'userName eq "x"; drop table users',
  'userName eq "x" or "1" eq "1"',
  'userName eq \'ann\'',
  'userName eq "ann") or (1 eq 1',
  'userName eq',
  'userName',
  'password eq "x"',
  'is_staff eq true',
  'groups[value eq "1"]',
  'emails[type eq "work"].display eq "x"',
  'emails[value co "a" and emails[type eq "work"]]',
  'userName eq null',
  'userName eq 1',
  'active eq "maybe"',
  'meta.lastModified gt "yesterday"',
  `userName eq "${'x'.repeat(2100)}"`,
  Array.from({ length: 51 }, (_, i) => `userName eq "u${i}"`).join(' or '),
];

for (const target of databaseTargets) {
  describe(`SCIM filters on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;

    before(async () => {
      database = await target.create();
      handle = openTestDatabase(database);
      await migrate(handle);
      for (const [user, modified] of USERS) await createDirectoryUser(handle.db, user, modified);
      const dee = await findDirectoryUsers(handle.db, { op: 'eq', field: 'username', value: 'dee' }, { offset: 0, limit: 1 });
      await markUserDeleted(handle.db, dee.users[0]!.id, at('2024-02-02T00:00:00Z'));
    });
    after(async () => {
      await handle?.close();
      await database?.drop();
    });

    const matching = async (filter: string) => {
      const found = await findDirectoryUsers(handle.db, userCondition(parseFilter(filter)), { offset: 0, limit: 100 });
      assert.equal(found.total, found.users.length);
      return found.users.map((u) => u.username).sort((a, b) => a.localeCompare(b));
    };

    test('each filter matches exactly the users the RFC says', async () => {
      for (const [filter, expected] of MATCHES) {
        assert.deepEqual(await matching(filter), expected, filter);
      }
    });

    test('quotes, SQL fragments, unknown attributes and bad values are refused as 400 invalidFilter', async () => {
      for (const filter of INVALID) {
        assert.throws(() => userCondition(parseFilter(filter)), (error: unknown) => {
          assert.ok(error instanceof ScimError, `${filter.slice(0, 80)}: ${String(error)}`);
          assert.deepEqual([error.status, error.scimType], [400, 'invalidFilter'], filter.slice(0, 80));
          return true;
        });
      }
      assert.deepEqual(await matching('userName pr'), ['ann', 'bob', 'Cy.Jones'], 'the users are all still there');
    });
  });
}
