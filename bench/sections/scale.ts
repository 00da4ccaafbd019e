import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { fetchText } from '../lib/http.ts';
import type { Options } from '../lib/options.ts';
import { LOAD_CORE, pinTree, type Child } from '../lib/proc.ts';
import { DEFAULT_MAX_ENTRIES, entryBytes, MAX_BYTES } from '../../src/sessions/cache.ts';
import { countersOf } from '../lib/counters.ts';
import { cookieSecret, countSeenBetween, samplePool, seedSqlite, startPostgresSeed, touchPool, writeCookieCycleScript, writeCookiePoolScript, type SeedReport, type SeedSpec } from '../lib/seed.ts';
import type { Stack } from '../lib/stack.ts';
import { interleaved, type LoadSummary } from './http-load.ts';

/**
 * warm: every session asked for is in the app's cache. cold, `off`: SESSION_CACHE=off, every request
 * reads its session, at every size. `scan`, on a database with more sessions than the cache holds:
 * cache on, at its default bound, the requests cycling through more sessions than it holds (a
 * least-recently-used cache would miss them all). These three mark their pool as seen an hour
 * ahead, so that none of their requests writes. `due`, on the large database: warm, without that
 * mark, so each session's first request in a minute writes last_seen, as real traffic does.
 */
export type ScaleCache = 'warm' | 'scan' | 'off' | 'due';

export interface ScaleResult {
  database: 'SQLite' | 'PostgreSQL';
  sessions: number;
  users: number;
  cache: ScaleCache;
  /** Distinct sessions the requests went over. */
  pool: number;
  seed: SeedReport;
  load: LoadSummary;
}

export interface ScaleOutcome {
  rows: ScaleResult[];
  /** Why PostgreSQL was not measured, when it was not. */
  postgresSkipped: string | undefined;
  postgresVersion: string | undefined;
  postgresSharedBuffers: string | undefined;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** A real session's `data` (alice's tokens, ~2 KB), valid for the whole run. */
function realSessionData(stack: Stack, now: number): string {
  const db = new DatabaseSync(stack.oursDatabase, { readOnly: true });
  try {
    const row = db.prepare("SELECT data FROM sessions WHERE provider = 'default' ORDER BY created DESC LIMIT 1").get() as { data: string };
    const tokens = JSON.parse(row.data) as Record<string, unknown>;
    return JSON.stringify({ ...tokens, expiresAt: now + 2 * 3600_000, renewAt: now + 2 * 3600_000 });
  } finally {
    db.close();
  }
}

type Where = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

interface Size {
  name: string;
  spec: SeedSpec;
  where: Where;
  seed?: SeedReport;
}

/** One app process on one database, and the sessions its requests go over. */
interface Run {
  size: Size;
  cache: ScaleCache;
  pool: number[];
  script: string;
}

const label = (n: number) => (n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n));

/** Sessions the warm runs go over (at most): half what the cache holds of these rows, so none is evicted. */
const warmPool = (data: string) => Math.floor(Math.min(DEFAULT_MAX_ENTRIES, MAX_BYTES / entryBytes(data)) / 2);

/**
 * The runs of one database size: warm, over a pool the cache holds, filled before the runs; cold
 * with the cache off; and, when the database is large enough, cold with the cache on, walking a
 * pool larger than the cache in a fixed cycle (lru-cache has always evicted a session by the time
 * it comes round again), and warm with last_seen due, over a pool of its own.
 */
function runsOf(size: Size, options: Options, dir: string, kind: string): Run[] {
  const { sessions } = size.spec;
  const script = (cache: ScaleCache) => join(dir, `pool-${kind}-${sessions}-${cache}.lua`);
  const cold = samplePool(sessions, Math.min(options.pool, sessions));
  const warm = samplePool(sessions, Math.min(warmPool(size.spec.data), sessions));
  const large = cold.length > DEFAULT_MAX_ENTRIES;
  // Apart from the other pools, which are marked seen an hour ahead.
  const taken = new Set([...cold, ...warm]);
  const due = large ? samplePool(sessions, warm.length + taken.size).filter((n) => !taken.has(n)).slice(0, warm.length) : [];
  return [
    { size, cache: 'warm', pool: warm, script: script('warm') },
    { size, cache: 'off', pool: cold, script: script('off') },
    ...(large ? [{ size, cache: 'scan' as const, pool: cold, script: script('scan') }] : []),
    ...(large ? [{ size, cache: 'due' as const, pool: due, script: script('due') }] : []),
  ];
}

const CONCURRENT_FILLS = 32;

/** One request for each session of the pool, so that the app's cache holds them all. */
async function fill(url: string, pool: number[], extraCookies: string): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENT_FILLS }, async () => {
    while (next < pool.length) {
      const n = pool[next++]!;
      const page = await fetchText(url, { cookie: `oc_session=${cookieSecret(n)}; ${extraCookies}` });
      if (page.status !== 200) throw new Error(`filling the cache: GET / for session ${n} answered ${page.status}`);
    }
  }));
}

/**
 * Measures the home page on two databases of one kind, a small one and a large one, already seeded,
 * each warm and cold, with requests spread over pools of sessions drawn from the whole table.
 */
async function measureKind(stack: Stack, options: Options, database: ScaleResult['database'], sizes: Size[], kind: string): Promise<ScaleResult[]> {
  const runs = sizes.flatMap((size) => runsOf(size, options, stack.dir, kind));
  const children: Child[] = [];
  try {
    for (const run of runs) {
      // Seen an hour from now, once, except the `due` pool: no request of the other runs writes
      // last_seen (the app writes it at most once a minute per session), so each measures the same
      // read path at every size, which is what they compare. The `due` row shows what they leave out.
      if (run.cache !== 'due') await touchPool(run.size.where, run.pool, Date.now() + 3600_000);
      if (run.cache === 'scan') writeCookieCycleScript(run.script, 'oc_session', run.pool, stack.oursExtraCookies);
      else writeCookiePoolScript(run.script, 'oc_session', run.pool, stack.oursExtraCookies);
      const where = run.size.where;
      const url = where.kind === 'sqlite' ? `sqlite:${where.file}` : where.url;
      children.push(await stack.startOurs(`oidc-connect ${database} ${run.size.name} ${run.cache}`, url, run.cache === 'off' ? { SESSION_CACHE: 'off' } : {}));
    }
    for (const [i, run] of runs.entries()) {
      const url = `${String(children[i]!.info['url'])}/`;
      const n = run.pool[0]!;
      const page = await fetchText(url, { cookie: `oc_session=${cookieSecret(n)}; ${stack.oursExtraCookies}` });
      const user = 1 + (n % run.size.spec.users);
      if (page.status !== 200 || !page.body.includes(`Hi user${user} - user${user}@example.com!`)) {
        throw new Error(`${database} ${run.size.name}: GET / for session ${n} answered ${page.status}: ${page.body.slice(0, 300)}`);
      }
      if (run.cache === 'warm' || run.cache === 'due') await fill(url, run.pool, stack.oursExtraCookies);
    }
    const key = (run: Run) => `${run.size.name} ${run.cache}`;
    const results = await interleaved(`scale ${database}`, runs.map((run, i) => ({
      key: key(run),
      label: `${database} ${run.size.name} ${run.cache}`,
      url: `${String(children[i]!.info['url'])}/`,
      pid: children[i]!.pid,
      script: run.script,
      ...(run.cache === 'off' ? {} : { counters: countersOf(children[i]!, 'session') }),
      writes: (since: number, until: number) => countSeenBetween(run.size.where, run.pool, since, until),
    })), { ...options, seconds: Math.min(options.seconds, SCALE_SECONDS), warmupSeconds: Math.min(options.warmupSeconds, SCALE_SECONDS) });
    return runs.map((run) => ({
      database, sessions: run.size.spec.sessions, users: run.size.spec.users, cache: run.cache, pool: run.pool.length, seed: run.size.seed!, load: results.get(key(run))!,
    }));
  } finally {
    for (const child of children) await child.stop();
  }
}

/** Seconds per scale run and warm-up (at most): ten servers in this measure, where the others have two to four. */
export const SCALE_SECONDS = 3;

/** The postmaster of a PostgreSQL on this machine (the parent of our backend), or undefined. */
export async function localPostmaster(admin: pg.Client, url: string): Promise<number | undefined> {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]', ''].includes(host)) return undefined;
  const backend = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  try {
    const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // in a container of its own
  }
}

/**
 * 4. 1k sessions against 1M sessions (100k users), on SQLite and, when configured, PostgreSQL.
 * Seeding is the slow part (a 4 GB SQLite file, 3 GB in PostgreSQL), so both databases are seeded
 * at once: PostgreSQL works on its bulk insert while this process writes the SQLite file.
 */
export async function scaleSection(stack: Stack, options: Options): Promise<ScaleOutcome> {
  const now = Date.now();
  const data = realSessionData(stack, now);
  const maxAgeMs = 14 * 24 * 3600_000;
  const specs: SeedSpec[] = [
    { users: options.smallSessions, sessions: options.smallSessions, data, now, maxAgeMs },
    { users: options.users, sessions: options.sessions, data, now, maxAgeMs },
  ];
  const size = (spec: SeedSpec, where: Where): Size => ({ name: `${label(spec.sessions)} sessions`, spec, where });
  const sqliteSizes = specs.map((spec) => size(spec, { kind: 'sqlite', file: join(stack.dir, `scale-${spec.sessions}.sqlite`) }));
  const rows: ScaleResult[] = [];
  const outcome: ScaleOutcome = { rows, postgresSkipped: undefined, postgresVersion: undefined, postgresSharedBuffers: undefined };
  const removeSqlite = () => {
    for (const s of sqliteSizes) for (const suffix of ['', '-wal', '-shm']) rmSync(`${(s.where as { file: string }).file}${suffix}`, { force: true });
  };

  let admin: pg.Client | undefined;
  const created: string[] = [];
  let unpin: (() => void) | undefined;
  try {
    const pgSizes: Size[] = [];
    let pending: Array<{ size: Size; finish(): Promise<SeedReport> }> = [];
    if (options.postgresUrl) {
      admin = new pg.Client({ connectionString: options.postgresUrl });
      await admin.connect();
      outcome.postgresVersion = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
      outcome.postgresSharedBuffers = (await admin.query<{ v: string }>("SELECT current_setting('shared_buffers') AS v")).rows[0]!.v;
      for (const spec of specs) {
        const name = `oc_bench_${Date.now().toString(36)}_${process.pid}_${spec.sessions}`;
        await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
        created.push(name);
        const url = new URL(options.postgresUrl);
        url.pathname = `/${name}`;
        pgSizes.push(size(spec, { kind: 'postgres', url: url.href }));
      }
      log(`  scale: seeding PostgreSQL ${outcome.postgresVersion} in the background`);
      pending = await Promise.all(pgSizes.map(async (s) => ({ size: s, ...await startPostgresSeed((s.where as { url: string }).url, s.spec) })));
    } else {
      outcome.postgresSkipped = 'neither BENCH_DATABASE_URL nor TEST_DATABASE_URL is set';
    }
    for (const s of sqliteSizes) {
      log(`  scale: seeding SQLite with ${s.spec.sessions} sessions and ${s.spec.users} users`);
      s.seed = await seedSqlite((s.where as { file: string }).file, s.spec);
      log(`  scale: SQLite seeded in ${s.seed.seconds.toFixed(1)} s (${s.seed.sizeMiB.toFixed(0)} MiB)`);
    }
    for (const { size: s, finish } of pending) {
      s.seed = await finish();
      log(`  scale: PostgreSQL ${s.name} seeded in ${s.seed.seconds.toFixed(1)} s (${s.seed.sizeMiB.toFixed(0)} MiB)`);
    }

    rows.push(...await measureKind(stack, options, 'SQLite', sqliteSizes, 'sqlite'));
    removeSqlite();

    if (admin && options.postgresUrl) {
      // The database server shares the load generator's core, so that it does not take the app's.
      const postmaster = await localPostmaster(admin, options.postgresUrl);
      if (postmaster !== undefined) unpin = pinTree(postmaster, LOAD_CORE);
      rows.push(...await measureKind(stack, options, 'PostgreSQL', pgSizes, 'pg'));
    }
  } finally {
    unpin?.();
    removeSqlite();
    for (const name of created) await admin!.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).catch(() => {});
    await admin?.end();
  }
  return outcome;
}
