import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ChangeFeed, type Change } from './change-feed.ts';

/** A SQLite source whose data_version reads are counted, and whose value the test moves (another connection's commit). */
function countedSqlite(): { feed: ChangeFeed; reads: () => number; commitElsewhere: () => void; writeHere: () => void; heard: Change[] } {
  let version = 1;
  let reads = 0;
  let changes = 0;
  const feed = new ChangeFeed({ kind: 'sqlite', dataVersion: () => (reads++, version), totalChanges: () => changes });
  const heard: Change[] = [];
  void feed.subscribe({ change: (change) => heard.push(change), live: () => {} });
  return { feed, reads: () => reads, commitElsewhere: () => void version++, writeHere: () => void changes++, heard };
}

test('SQLite: a burst of requests reads data_version once, not once per request', async () => {
  const { feed, reads } = countedSqlite();
  for (let i = 0; i < 1000; i++) assert.equal(feed.usable(), true);
  // A slow machine may cross a 10 ms boundary during the burst; per request it would be 1000.
  assert.ok(reads() <= 3, `${reads()} reads for 1000 requests`);
  await sleep(15);
  const before = reads();
  feed.usable();
  assert.equal(reads(), before + 1, 'read again once the interval has passed');
});

test('SQLite: another connection\'s commit empties the caches at the first check after it', async () => {
  const { feed, commitElsewhere, heard } = countedSqlite();
  feed.usable();
  commitElsewhere();
  await sleep(15);
  feed.usable();
  assert.deepEqual(heard, [{ kind: 'all' }]);
});

test('SQLite: own announced changes reach the caches at once, whatever the interval', () => {
  const { feed, heard } = countedSqlite();
  feed.usable();
  feed.ownChanges([{ kind: 'session', id: 'x' }]);
  assert.deepEqual(heard, [{ kind: 'session', id: 'x' }]);
});

test('SQLite: an unannounced write on this connection empties the caches at the next check, within the interval', () => {
  const { feed, writeHere, heard } = countedSqlite();
  feed.usable();
  writeHere();
  feed.usable();
  assert.deepEqual(heard, [{ kind: 'all' }]);
  feed.quietWrite();
  writeHere();
  feed.usable();
  assert.deepEqual(heard, [{ kind: 'all' }], 'a write declared quiet (the last_seen touch) empties nothing');
});
