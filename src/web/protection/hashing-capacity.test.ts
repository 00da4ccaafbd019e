import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOidcConnectError } from '../../errors.ts';
import { HashingCapacity } from './hashing-capacity.ts';

/** A piece of work that ends when the test says so, noting how many run at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

test('runs at most `concurrency` at once, queues `queue` more in order, and refuses the rest with SERVER_BUSY', async () => {
  const capacity = new HashingCapacity(2, 3);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 5 }, gate);
  const runs = gates.map(({ opened }, i) => capacity.run(async () => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await opened;
    running--;
    return i;
  }));
  const refused = await capacity.run(async () => 'ran').catch((error: unknown) => error);
  assert.ok(isOidcConnectError(refused) && refused.code === 'SERVER_BUSY' && refused.status === 503, String(refused));
  assert.ok(refused.retryAfterSeconds! > 0);

  for (const { open } of gates) open();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4], 'first come, first served');
  assert.equal(await capacity.run(async () => 'free again'), 'free again');
});

test('a failing run gives its slot back', async () => {
  const capacity = new HashingCapacity(1, 0);
  await assert.rejects(capacity.run(async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await capacity.run(async () => 'next'), 'next');
});
