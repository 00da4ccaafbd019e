/**
 * `oidc-connect audit export` (issue 22, §4), on SQLite and PostgreSQL: the exact JSON Lines and CSV
 * of known events (the CSV read, and written again, by Python's csv module), the bounds, bad
 * arguments, and that memory stays flat: a 200,000-event export peaks at about the RSS of a
 * 20,000-event one, and a reader that does not read holds the export at one page.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { countAnonymousFailure, recordEvent } from '../src/audit/index.ts';
import { exportAuditLog } from '../src/audit/export.ts';
import { auditExport, parseInstant, type AuditExportArgs } from '../src/cli/audit-export.ts';
import { loadConfig } from '../src/config/index.ts';
import { migrate, type DatabaseHandle } from '../src/db/index.ts';
import { BIN, cli, cliInTerminal } from './support/cli.ts';
import { databaseTargets, openTestDatabase, type TestDatabase } from './support/postgres.ts';

const DEC_1 = Date.UTC(2026, 11, 1);
const DEC_2 = Date.UTC(2026, 11, 2);
const HOUR = 3_600_000;
const PEAK_RSS = new URL('./support/peak-rss.ts', import.meta.url).pathname;

/** Python's csv module, another implementation: the records it reads, and what its writer makes of them. */
function pythonCsv(text: string): { records: string[][]; rewritten: string } {
  const script = [
    'import csv, io, json, sys',
    "records = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline=''), strict=True))",
    "out = io.StringIO(newline='')",
    'csv.writer(out).writerows(records)',
    "print(json.dumps({'records': records, 'rewritten': out.getvalue()}))",
  ].join('\n');
  const run = spawnSync('python3', ['-c', script], { input: text, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { records: string[][]; rewritten: string };
}

describe('audit export: arguments', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-audit-args-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The command as main() runs it, in this process: bad arguments are refused before the database is opened. */
  async function refusal(args: AuditExportArgs): Promise<{ code: number; errors: string[]; written: string }> {
    const errors: string[] = [];
    let written = '';
    const out = new Writable({ write(chunk, _encoding, done) { written += chunk; done(); } });
    const config = loadConfig({ cwd: dir, env: { DATABASE_URL: 'sqlite:./missing/dir/never-opened.sqlite' } });
    const code = await auditExport(config, args, { out, progress: process.stderr, error: (line) => errors.push(line) });
    return { code, errors, written };
  }

  for (const [args, option] of [
    [{}, '--since'],
    [{ since: '2026-02-30' }, '--since'],
    [{ since: '2026-12-01T08:00' }, '--since'],
    [{ since: 'yesterday' }, '--since'],
    [{ since: '2026-12-01', until: '12/02/2026' }, '--until'],
    [{ since: '2026-12-02', until: '2026-12-01T23:59:59Z' }, '--until'],
    [{ since: '2026-12-01', format: 'xml' }, '--format'],
  ] as const) {
    test(`${JSON.stringify(args)}: one line naming ${option}, exit 2, nothing written`, async () => {
      const { code, errors, written } = await refusal(args);
      assert.equal(code, 2);
      assert.equal(written, '');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, new RegExp(`^audit export: [^\\n]*${option}`));
    });
  }

  test('through the binary: a bad date is one line on stderr and exit 2; --help describes the options', async () => {
    const run = await cli(dir, ['audit', 'export', '--since', '2026-02-30'], { DATABASE_URL: 'sqlite::memory:' });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'audit export: --since "2026-02-30" is not an ISO date or date-time; use e.g. 2026-12-01 or 2026-12-01T08:00:00Z\n');
    const help = await cli(dir, ['audit', 'export', '--help']);
    assert.equal(help.code, 0);
    for (const option of ['--since DATE', '--until DATE', '--format F', '-h, --help']) assert.match(help.stdout, new RegExp(`^  ${option} +\\S`, 'm'), option);
    assert.match(help.stdout, /the first instant included/);
    assert.match(help.stdout, /the first instant left out/);
  });
});

for (const target of databaseTargets) {
  describe(`audit export on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oidc-connect-audit-export-'));
      database = await target.create();
      handle = openTestDatabase(database);
      await migrate(handle);
      const db = handle.db;
      // In id order: one before the range, two at its first instant, then one each hour.
      await recordEvent(db, { type: 'logout', method: 'local', userId: 9, username: 'early', time: DEC_1 - 1 });
      await recordEvent(db, {
        type: 'login_success', method: 'local', userId: 1, username: 'alice', ip: '203.0.113.9',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64), "quoted"', time: DEC_1,
      });
      await recordEvent(db, { type: 'logout', method: 'okta', userId: 1, username: 'alice', time: DEC_1 });
      await recordEvent(db, { type: 'login_failure', method: 'okta', errorCode: 'STATE_INVALID', ip: '2001:db8::1', userAgent: 'curl/8.5.0', time: DEC_1 + HOUR });
      await recordEvent(db, {
        type: 'admin_action', actorId: 1, userId: 2, username: 'bob', action: 'deactivate', detail: 'said "bye", team A,B', time: DEC_1 + 2 * HOUR,
      });
      await countAnonymousFailure(db, { type: 'login_failure', method: 'okta', errorCode: 'STATE_INVALID', ip: '198.51.100.7', userAgent: 'bot', time: DEC_1 + 3 * HOUR + 5_000 });
      await countAnonymousFailure(db, { type: 'login_failure', method: 'okta', errorCode: 'STATE_INVALID', ip: '198.51.100.7', userAgent: 'bot', time: DEC_1 + 3 * HOUR + 9_000 });
      await recordEvent(db, { type: 'login_success', method: 'local', userId: 2, username: 'bob', time: DEC_2 - 1 });
      await recordEvent(db, { type: 'login_success', method: 'local', userId: 3, username: 'carol', time: DEC_2 });
    });
    after(async () => {
      await handle?.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    const event = (fields: Record<string, unknown>) => ({
      id: 0, time: '', type: '', method: '', error_code: null, user_id: null, username: '', actor_id: null, action: '', detail: '', ip: '', user_agent: '', count: 1, grouped: false, ...fields,
    });
    // The rows of --since 2026-12-01 --until 2026-12-02, written out by hand from the events above.
    const DECEMBER_FIRST = [
      event({ id: 2, time: '2026-12-01T00:00:00.000Z', type: 'login_success', method: 'local', user_id: 1, username: 'alice', ip: '203.0.113.9', user_agent: 'Mozilla/5.0 (X11; Linux x86_64), "quoted"' }),
      event({ id: 3, time: '2026-12-01T00:00:00.000Z', type: 'logout', method: 'okta', user_id: 1, username: 'alice' }),
      event({ id: 4, time: '2026-12-01T01:00:00.000Z', type: 'login_failure', method: 'okta', error_code: 'STATE_INVALID', ip: '2001:db8::1', user_agent: 'curl/8.5.0' }),
      event({ id: 5, time: '2026-12-01T02:00:00.000Z', type: 'admin_action', user_id: 2, username: 'bob', actor_id: 1, action: 'deactivate', detail: 'said "bye", team A,B' }),
      event({ id: 6, time: '2026-12-01T03:00:00.000Z', type: 'login_failure', method: 'okta', error_code: 'STATE_INVALID', ip: '198.51.100.7', user_agent: 'bot', count: 2, grouped: true }),
      event({ id: 8, time: '2026-12-01T23:59:59.999Z', type: 'login_success', method: 'local', user_id: 2, username: 'bob' }),
    ];

    test('jsonl: one JSON object per line, oldest first, --since inclusive and --until exclusive, nothing on a non-terminal stderr', async () => {
      const run = await cli(dir, ['audit', 'export', '--since', '2026-12-01', '--until', '2026-12-02'], { DATABASE_URL: database.url });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.ok(run.stdout.endsWith('\n'));
      assert.deepEqual(run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line)), DECEMBER_FIRST);
      // The ids skipped: 1 is a millisecond before --since, 9 is exactly at --until.
    });

    test('date-times with a zone bound the range to the millisecond, and no --until means to the end', async () => {
      const shifted = await cli(dir, ['audit', 'export', '--since', '2026-12-01T02:00:00+01:00', '--until', '2026-12-01T02:00:00.001Z'], { DATABASE_URL: database.url });
      assert.equal(shifted.code, 0, shifted.stderr);
      assert.deepEqual(shifted.stdout.trimEnd().split('\n').map((line) => JSON.parse(line).id), [4, 5]);
      const ids = async (since: string) => {
        let text = '';
        const out = new Writable({ write(chunk, _encoding, done) { text += chunk; done(); } });
        await exportAuditLog(handle.db, out, { since: parseInstant(since)!, format: 'jsonl' });
        return text.split('\n').filter(Boolean).map((line) => JSON.parse(line).id as number);
      };
      assert.deepEqual(await ids('2026-12-01T23:59:59.999Z'), [8, 9]);
      assert.deepEqual(await ids('2026-12-02T00:00:00.001Z'), []);
    });

    test("csv: RFC 4180 as Python's csv module reads it and writes it again, header first, CRLF, quotes doubled", async () => {
      const run = await cli(dir, ['audit', 'export', '--since', '2026-12-01', '--until', '2026-12-02', '--format', 'csv'], { DATABASE_URL: database.url });
      assert.equal(run.code, 0, run.stderr);
      const { records, rewritten } = pythonCsv(run.stdout);
      assert.deepEqual(records, [
        ['id', 'time', 'type', 'method', 'error_code', 'user_id', 'username', 'actor_id', 'action', 'detail', 'ip', 'user_agent', 'count', 'grouped'],
        ['2', '2026-12-01T00:00:00.000Z', 'login_success', 'local', '', '1', 'alice', '', '', '', '203.0.113.9', 'Mozilla/5.0 (X11; Linux x86_64), "quoted"', '1', 'false'],
        ['3', '2026-12-01T00:00:00.000Z', 'logout', 'okta', '', '1', 'alice', '', '', '', '', '', '1', 'false'],
        ['4', '2026-12-01T01:00:00.000Z', 'login_failure', 'okta', 'STATE_INVALID', '', '', '', '', '', '2001:db8::1', 'curl/8.5.0', '1', 'false'],
        ['5', '2026-12-01T02:00:00.000Z', 'admin_action', '', '', '2', 'bob', '1', 'deactivate', 'said "bye", team A,B', '', '', '1', 'false'],
        ['6', '2026-12-01T03:00:00.000Z', 'login_failure', 'okta', 'STATE_INVALID', '', '', '', '', '', '198.51.100.7', 'bot', '2', 'true'],
        ['8', '2026-12-01T23:59:59.999Z', 'login_success', 'local', '', '2', 'bob', '', '', '', '', '', '1', 'false'],
      ]);
      assert.equal(run.stdout, rewritten, "byte for byte what Python's csv.writer (QUOTE_MINIMAL, CRLF) writes");
      const none = await cli(dir, ['audit', 'export', '--since', '2027-01-01', '--format', 'csv'], { DATABASE_URL: database.url });
      assert.deepEqual(pythonCsv(none.stdout).records, [records[0]], 'no events: the header alone');
    });

    test('pages that split events of the same millisecond lose none and repeat none (keyset on time, then id)', async () => {
      const lines: string[] = [];
      const out = new Writable({ write(chunk, _encoding, done) { lines.push(...String(chunk).trimEnd().split('\n')); done(); } });
      const written = await exportAuditLog(handle.db, out, { since: DEC_1, until: DEC_2, format: 'jsonl', batchSize: 1 });
      assert.equal(written, DECEMBER_FIRST.length);
      assert.deepEqual(lines.map((line) => JSON.parse(line)), DECEMBER_FIRST);
    });

    test('on a terminal, stderr shows how far the export is', async () => {
      const run = await cliInTerminal(dir, ['audit', 'export', '--since', '2026-12-01', '--until', '2026-12-02'], { DATABASE_URL: database.url }, []);
      assert.equal(run.code, 0, run.transcript);
      assert.match(run.transcript, /audit export: 6 events, up to 2026-12-01T23:59:59\.999Z/);
      assert.match(run.transcript, /audit export: 6 events written\n/);
    });

    describe('many events', () => {
      const SMALL = 20_000;
      const LARGE = 200_000;
      const JAN_1 = Date.UTC(2027, 0, 1);
      const FEB_1 = Date.UTC(2027, 1, 1);
      before(async () => {
        // 20,000 events in January 2027 and 200,000 from February, one a second, in one statement each.
        const fill = (count: number, start: number) => sql`
          with recursive n(i) as (select 1 union all select i + 1 from n where i < ${sql.lit(count)})
          insert into audit_log (time, type, method, username, ip, user_agent)
          select ${sql.lit(start)} + i * 1000, 'login_success', 'local', 'user' || i, '203.0.113.' || (i % 250), 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
          from n`.execute(handle.db);
        await fill(SMALL, JAN_1);
        await fill(LARGE, FEB_1);
      });

      /**
       * The CLI in a child that reports its peak RSS; stdout is read as it comes and only counted.
       * V8 sizes its heap by how fast a program allocates, not by what it keeps: left alone, a longer
       * run ends with more garbage not yet collected, and RSS would measure the collector's appetite.
       * With the young generation at 1 MB and the old at 64 MB, the peak is what the export keeps alive
       * (an export that held every row would not even fit).
       */
      const exportPeak = (args: string[]) => new Promise<{ lines: number; peakKb: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--max-semi-space-size=1', '--max-old-space-size=64', '--import', PEAK_RSS, BIN, 'audit', 'export', ...args], {
          cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: database.url }, timeout: 120_000,
        });
        let lines = 0;
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          for (const byte of chunk) if (byte === 0x0a) lines++;
        });
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => {
          const peak = /peak-rss-kb (\d+)/.exec(stderr);
          if (code !== 0 || !peak) reject(new Error(`export exited ${code}: ${stderr}`));
          else resolve({ lines, peakKb: Number(peak[1]) });
        });
      });

      test('200,000 events peak at under 1.2 times the RSS of 20,000 (memory stays flat)', async () => {
        const small = await exportPeak(['--since', '2027-01-01', '--until', '2027-02-01']);
        const large = await exportPeak(['--since', '2027-02-01', '--format', 'csv']);
        assert.equal(small.lines, SMALL);
        assert.equal(large.lines, LARGE + 1, 'the header and every event');
        const ratio = large.peakKb / small.peakKb;
        console.log(`# peak RSS on ${target.name}: ${SMALL} events ${small.peakKb} kB, ${LARGE} events ${large.peakKb} kB, ratio ${ratio.toFixed(2)}`);
        assert.ok(ratio < 1.2, `peak RSS ${small.peakKb} kB → ${large.peakKb} kB (×${ratio.toFixed(2)})`);
      });

      test('a reader that takes nothing until the export waits holds the export at one page', async () => {
        // The reader takes a chunk only once the export waits for 'drain'. An export that ignored
        // write()'s false would never wait, and everything would pile up in the stream's buffer.
        let pending: (() => void) | undefined;
        let mostBuffered = 0;
        let largestChunk = 0;
        let lines = 0;
        const out = new Writable({
          highWaterMark: 1024,
          write(chunk: Buffer, _encoding, done) {
            largestChunk = Math.max(largestChunk, chunk.length);
            for (const byte of chunk) if (byte === 0x0a) lines++;
            pending = done;
          },
        });
        const release = () => {
          const done = pending;
          pending = undefined;
          done?.();
        };
        out.on('newListener', (name) => {
          if (name !== 'drain') return;
          mostBuffered = Math.max(mostBuffered, out.writableLength);
          setImmediate(release);
        });
        const written = await exportAuditLog(handle.db, out, { since: JAN_1, until: FEB_1, format: 'jsonl' });
        mostBuffered = Math.max(mostBuffered, out.writableLength);
        release();
        assert.equal(written, SMALL);
        assert.equal(lines, SMALL);
        assert.ok(largestChunk > 0 && mostBuffered <= largestChunk, `at most one page (${largestChunk} bytes) waited in the stream; ${mostBuffered} did`);
      });
    });
  });
}
