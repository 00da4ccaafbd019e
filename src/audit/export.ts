/**
 * The audit log for a SIEM: every row of a time range, oldest first, as JSON Lines or CSV, written
 * to a stream. Memory stays flat however long the range: rows are read in pages by keyset over
 * (time, id), never with OFFSET, and the next page is read only once the stream has taken the last
 * one (a `write` that returns false waits for 'drain'), so a slow reader slows the export down
 * instead of filling memory.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { Db } from '../db/index.ts';
import type { AuditLogRow } from '../db/schema.ts';
import type { EventRow } from './stats.ts';

export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The fields of each exported event, in this order (the CSV header). */
export const EXPORT_FIELDS = [
  'id', 'time', 'type', 'method', 'error_code', 'user_id', 'username', 'actor_id', 'action', 'detail', 'ip', 'user_agent', 'count', 'grouped',
] as const;

/** An event as exported: the admin list's row (stats.ts), with its time as ISO 8601 and the grouped flag. */
export type ExportedEvent = Omit<EventRow, 'time'> & {
  /** ISO 8601, UTC, with milliseconds: 2026-12-01T08:30:00.000Z. */
  time: string;
  /** A row that counts anonymous failures (see countAnonymousFailure); its time is the start of its minute. */
  grouped: boolean;
};

export interface ExportOptions {
  /** Epoch ms, inclusive. */
  since: number;
  /** Epoch ms, exclusive; default: no bound. */
  until?: number;
  format: ExportFormat;
  /** Rows per query; default 1000. */
  batchSize?: number;
  /** Called after each page is written, with the rows written so far and the time of the last one. */
  onProgress?: (rows: number, lastTime: number) => void;
}

const DEFAULT_BATCH_SIZE = 1000;

/**
 * Writes the events with `since <= time < until` to `out` and resolves with how many were written;
 * it does not end `out`. Rejects when the stream errors (a closed pipe, EPIPE).
 *
 * @example
 *   const rows = await exportAuditLog(db, process.stdout, { since: Date.parse('2026-12-01'), format: 'jsonl' });
 */
export async function exportAuditLog(db: Db, out: Writable, options: ExportOptions): Promise<number> {
  if (!Number.isFinite(options.since) || (options.until !== undefined && !Number.isFinite(options.until))) {
    throw new TypeError('exportAuditLog: since and until must be epoch milliseconds');
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(options.format)) {
    throw new TypeError(`exportAuditLog: format must be ${EXPORT_FORMATS.join(' or ')}`);
  }
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  let written = 0;
  for await (const page of auditLogPages(db, options.since, options.until, batchSize)) {
    const chunk = options.format === 'jsonl'
      ? page.map((event) => `${JSON.stringify(event)}\n`).join('')
      : toCsv(page, written === 0);
    written += page.length;
    if (!out.write(chunk)) await once(out, 'drain');
    options.onProgress?.(written, Date.parse(page.at(-1)!.time));
  }
  // No rows: a CSV file still says what its columns are.
  if (written === 0 && options.format === 'csv' && !out.write(toCsv([], true))) await once(out, 'drain');
  return written;
}

/**
 * RFC 4180 through csv-stringify: fields with a comma, quote or line break are quoted, quotes
 * doubled, records end with CRLF; null is an empty field, booleans true/false.
 */
const toCsv = (events: ExportedEvent[], header: boolean): string =>
  stringify(events, {
    header,
    columns: [...EXPORT_FIELDS],
    record_delimiter: 'windows',
    cast: { boolean: (value) => (value ? 'true' : 'false') },
  });

/** Pages of events in (time, id) order; each query starts after the last row of the one before. */
async function* auditLogPages(db: Db, since: number, until: number | undefined, batchSize: number): AsyncGenerator<ExportedEvent[]> {
  let last: { time: number; id: number } | null = null;
  for (;;) {
    const after = last;
    const rows: AuditLogRow[] = await db
      .selectFrom('audit_log')
      .selectAll()
      // `time >= t and (time > t or id > i)`: the range starts on the time index on both databases.
      .where('time', '>=', after?.time ?? since)
      .$if(after !== null, (qb) => qb.where((eb) => eb.or([eb('time', '>', after!.time), eb('id', '>', after!.id)])))
      .$if(until !== undefined, (qb) => qb.where('time', '<', until!))
      .orderBy('time')
      .orderBy('id')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) return;
    yield rows.map((row) => ({
      id: Number(row.id),
      time: new Date(Number(row.time)).toISOString(),
      type: row.type,
      method: row.method,
      error_code: row.error_code,
      user_id: row.user_id,
      username: row.username,
      actor_id: row.actor_id,
      action: row.action,
      detail: row.detail,
      ip: row.ip,
      user_agent: row.user_agent,
      count: Number(row.count),
      grouped: Number(row.grouped) === 1,
    }));
    if (rows.length < batchSize) return;
    const tail = rows.at(-1)!;
    last = { time: Number(tail.time), id: Number(tail.id) };
  }
}
