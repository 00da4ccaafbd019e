/**
 * A node:test reporter that writes one JSON line per skipped or todo test or suite, for
 * scripts/test.ts to count and name at the end of `npm test`. Node's own summary counts skipped tests
 * only, not skipped suites (`describe(..., { skip })`), so a run that skipped every PostgreSQL suite
 * still said "skipped 0".
 *
 * @example
 *   node --test --test-reporter=spec --test-reporter-destination=stdout \
 *     --test-reporter=./scripts/test-skips.ts --test-reporter-destination=skips.jsonl test/x.test.ts
 */
import type { TestEvent } from 'node:test/reporters';

/** One line of the reporter's output. */
export interface SkipRecord {
  readonly file: string | undefined;
  readonly name: string;
  readonly kind: 'suite' | 'test';
  /** 'skip' or 'todo', with the reason given (true when none was). */
  readonly status: 'skip' | 'todo';
  readonly reason: string | true;
}

export default async function* skips(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    const status = data.skip !== undefined && data.skip !== false ? 'skip' : data.todo !== undefined && data.todo !== false ? 'todo' : undefined;
    if (status === undefined) continue;
    const record: SkipRecord = {
      file: data.file,
      name: data.name,
      kind: data.details.type === 'suite' ? 'suite' : 'test',
      status,
      reason: (status === 'skip' ? data.skip : data.todo) as string | true,
    };
    yield `${JSON.stringify(record)}\n`;
  }
}
