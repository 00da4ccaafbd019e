import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ChangeFeed, type Change } from './change-feed.ts';
import type { LoggedChange } from './change-log.ts';

/** SQLite poll interval (SQLITE_CHECK_MS is 10 ms): waiting this long lets the next poll read the file. */
const PAST_INTERVAL_MS = 15;

/**
 * A SQLite source whose file the test changes: another connection's commit moves data_version, and
 * may add change-log rows; data_version reads are counted.
 */
function fakeSqlite(options: { migrated?: boolean } = {}) {
  let version = 1;
  let reads = 0;
  let nextId = 1;
  let migrated = options.migrated ?? true;
  const state = { inTransaction: false };
  let rows: LoggedChange[] = [];
  const feed = new ChangeFeed({
    kind: 'sqlite',
    dataVersion: () => (reads++, version),
    inTransaction: () => state.inTransaction,
    log: {
      last: () => {
        if (!migrated) throw new Error('no such table: change_log');
        return nextId - 1;
      },
      after: (id) => rows.filter((row) => row.id > id),
    },
  });
  const heard: Change[] = [];
  const live: boolean[] = [];
  void feed.subscribe({ change: (change) => heard.push(change), live: (on) => live.push(on) });
  return {
    feed, heard, live, state,
    reads: () => reads,
    /** Another connection commits; `changes` is the row its write logged, if any. */
    commitElsewhere(changes?: string) {
      if (changes !== undefined) rows.push({ id: nextId++, changes });
      version++;
    },
    /** Housekeeping deletes every row but the newest. */
    pruneAllButNewest: () => void (rows = rows.slice(-1)),
    migrate: () => void (migrated = true),
  };
}

test('SQLite: a burst of 1000 polls reads data_version at most 3 times, and once more after 10 ms', async () => {
  const { feed, reads } = fakeSqlite();
  for (let i = 0; i < 1000; i++) feed.poll();
  // A slow machine may cross a 10 ms boundary during the burst; per request it would be 1000.
  assert.ok(reads() <= 3, `${reads()} reads for 1000 polls`);
  await sleep(PAST_INTERVAL_MS);
  const before = reads();
  feed.poll();
  assert.equal(reads(), before + 1);
});

test('SQLite: another connection\'s logged write reaches the subscribers as that change, at the first poll past the interval', async () => {
  const { feed, heard, commitElsewhere } = fakeSqlite();
  feed.poll();
  commitElsewhere('s:abc u:7');
  feed.poll();
  assert.deepEqual(heard, [], 'not within the interval');
  await sleep(PAST_INTERVAL_MS);
  feed.poll();
  assert.deepEqual(heard, [{ kind: 'session', id: 'abc' }, { kind: 'user', id: 7 }]);
});

test('SQLite: a commit that logged nothing (a flow, an audit row, last_seen) reaches the subscribers as nothing', async () => {
  const { feed, heard, commitElsewhere } = fakeSqlite();
  feed.poll();
  commitElsewhere();
  commitElsewhere();
  await sleep(PAST_INTERVAL_MS);
  feed.poll();
  assert.deepEqual(heard, []);
});

test('SQLite: rows pruned before this process read them (a hole in the ids) reach the subscribers as "everything changed"', async () => {
  const { feed, heard, commitElsewhere, pruneAllButNewest } = fakeSqlite();
  feed.poll();
  commitElsewhere('s:first');
  commitElsewhere('s:second');
  pruneAllButNewest();
  await sleep(PAST_INTERVAL_MS);
  feed.poll();
  assert.deepEqual(heard, [{ kind: 'all' }]);
  commitElsewhere('u:3');
  await sleep(PAST_INTERVAL_MS);
  feed.poll();
  assert.deepEqual(heard, [{ kind: 'all' }, { kind: 'user', id: 3 }], 'and targeted again from the next row on');
});

test('isLive and isSettled answer without telling the subscribers anything; poll() does', async () => {
  const { feed, heard, commitElsewhere, reads } = fakeSqlite();
  feed.poll();
  commitElsewhere('s:abc');
  await sleep(PAST_INTERVAL_MS);
  const before = reads();
  for (let i = 0; i < 10; i++) assert.ok(feed.isLive && feed.isSettled);
  assert.deepEqual(heard, []);
  assert.equal(reads(), before, 'nor read the file');
  feed.poll();
  assert.deepEqual(heard, [{ kind: 'session', id: 'abc' }]);
});

test('SQLite: a poll inside a transaction on this connection leaves the log unread; the next one outside reads it', async () => {
  const { feed, heard, commitElsewhere, state } = fakeSqlite();
  feed.poll();
  commitElsewhere('s:abc');
  await sleep(PAST_INTERVAL_MS);
  state.inTransaction = true;
  feed.poll();
  assert.deepEqual(heard, []);
  state.inTransaction = false;
  feed.poll();
  assert.deepEqual(heard, [{ kind: 'session', id: 'abc' }]);
});

test('SQLite: own announced changes reach the subscribers at once, without a poll', () => {
  const { feed, heard } = fakeSqlite();
  feed.ownChanges([{ kind: 'session', id: 'x' }]);
  assert.deepEqual(heard, [{ kind: 'session', id: 'x' }]);
});

test('SQLite: a change log that can\'t be read (not migrated) makes the feed not live, and live again once it can be', async () => {
  const { feed, live, migrate } = fakeSqlite({ migrated: false });
  feed.poll();
  assert.equal(feed.isLive, false);
  assert.deepEqual(live, [false]);
  migrate();
  await sleep(PAST_INTERVAL_MS);
  feed.poll();
  assert.equal(feed.isLive, true);
  assert.deepEqual(live, [false, true]);
});
