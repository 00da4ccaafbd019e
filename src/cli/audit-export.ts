import type { Writable } from 'node:stream';
import { EXPORT_FORMATS, exportAuditLog, type ExportFormat } from '../audit/export.ts';
import type { Config } from '../config/index.ts';
import { openDatabase } from '../db/index.ts';

export interface AuditExportArgs {
  since?: string | undefined;
  until?: string | undefined;
  format?: string | undefined;
}

/** The exit code of bad arguments, as for a usage error in most Unix tools. */
export const USAGE_ERROR = 2;

/**
 * `oidc-connect audit export --since D [--until D] [--format jsonl|csv]`: the events to `out`
 * (stdout), and a progress line on `progress` (stderr) only when it is a terminal, so that a
 * redirected stderr in a cron job stays empty. Bad arguments: one line naming the option, exit 2.
 */
export async function auditExport(
  config: Config,
  args: AuditExportArgs,
  io: { out: Writable; progress: NodeJS.WriteStream; error: (line: string) => void },
): Promise<number> {
  if (args.since === undefined) {
    io.error('audit export: --since is required, e.g. --since 2026-12-01');
    return USAGE_ERROR;
  }
  const since = parseInstant(args.since);
  if (since === undefined) {
    io.error(`audit export: --since "${args.since}" is not an ISO date or date-time; use e.g. 2026-12-01 or 2026-12-01T08:00:00Z`);
    return USAGE_ERROR;
  }
  const until = args.until === undefined ? undefined : parseInstant(args.until);
  if (args.until !== undefined && until === undefined) {
    io.error(`audit export: --until "${args.until}" is not an ISO date or date-time; use e.g. 2026-12-02 or 2026-12-01T18:00:00+01:00`);
    return USAGE_ERROR;
  }
  if (until !== undefined && until <= since) {
    io.error(`audit export: --until (${args.until}) must be later than --since (${args.since}); --since is inclusive, --until exclusive`);
    return USAGE_ERROR;
  }
  const format = args.format ?? 'jsonl';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    io.error(`audit export: --format "${format}" is not supported; use ${EXPORT_FORMATS.join(' or ')}`);
    return USAGE_ERROR;
  }

  const terminal = io.progress.isTTY === true;
  const database = openDatabase(config.database);
  try {
    const rows = await exportAuditLog(database.db, io.out, {
      since,
      ...(until !== undefined ? { until } : {}),
      format: format as ExportFormat,
      ...(terminal ? { onProgress: (count: number, last: number) => io.progress.write(`\raudit export: ${count} events, up to ${new Date(last).toISOString()}`) } : {}),
    });
    if (terminal) io.progress.write(`${rows > 0 ? '\n' : ''}audit export: ${rows} events written\n`);
    return 0;
  } finally {
    await database.close();
  }
}

// YYYY-MM-DD, or a date-time with seconds optional and a zone required (Z or ±hh:mm): a time
// without one would be read in the machine's zone, and two servers would export different ranges.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * An ISO 8601 date (midnight UTC) or date-time with a zone, as epoch ms; undefined for anything
 * else, including dates that do not exist (2026-02-30), which Date.parse would roll over.
 *
 * @example
 *   parseInstant('2026-12-01')                // 1796083200000
 *   parseInstant('2026-12-01T09:00:00+01:00') // 1796112000000
 */
export function parseInstant(value: string): number | undefined {
  const match = ISO_INSTANT.exec(value);
  if (!match) return undefined;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}
