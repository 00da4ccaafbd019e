import { existsSync, readFileSync } from 'node:fs';
import type { LoadSummary } from '../sections/http-load.ts';
import type { LoginSummary } from '../sections/logins.ts';
import { summarise, type MixedOutcome, type MixedRow } from '../sections/mixed.ts';
import type { ProtocolRow } from '../sections/protocols.ts';
import type { RevocationOutcome } from '../sections/revocation.ts';
import { DEFAULT_MAX_ENTRIES, MAX_BYTES } from '../../src/sessions/cache.ts';
import { SCALE_SECONDS, type ScaleCache, type ScaleOutcome } from '../sections/scale.ts';
import type { Machine } from './machine.ts';
import type { Options } from './options.ts';
import { fmt, ratio } from './stats.ts';

export interface Results {
  machine: Machine;
  started: Date;
  durationS: number;
  options: Options;
  loadAverage: string;
  loadAverageEnd: string;
  page?: Map<string, LoadSummary>;
  bearer?: Map<string, LoadSummary>;
  logins?: Map<string, LoginSummary>;
  scale?: ScaleOutcome;
  mixed?: MixedOutcome;
  revocation?: RevocationOutcome;
  protocols?: ProtocolRow[];
  notes: string[];
}

interface Target {
  measure: string;
  target: string;
  figure: string;
  met: boolean | undefined;
}

const LOGIN_PROFILE = new URL('../login-profile.md', import.meta.url);
const PAGE_PROFILE = new URL('../page-profile.md', import.meta.url);
const SCALE_MEMORY = new URL('../scale-memory.md', import.meta.url);

const SCALE_CACHE_NAME: Record<ScaleCache, string> = { warm: 'warm', due: 'warm, last_seen due', off: 'cold (off)', scan: 'scan' };
const pct = (share: number) => `${(share * 100).toFixed(0)}%`;
const yes = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');
const spreadText = (s: { min: number; max: number }) => `${fmt(s.min)}–${fmt(s.max)}`;
/** A cache hit ratio: "–" for a server without a cache, and says so when the build counts nothing. */
const hits = (counted: boolean, ratio: number | null) => (!counted ? '–' : ratio === null ? 'not counted' : `${(ratio * 100).toFixed(1)}%`);

/** What each page row does not do that a real signed-in page would (or does that the others don't). */
const PAGE_LEAVES_OUT: Record<string, string> = {
  floor: 'everything but its five parts: no expiry, idle or user check, no database, no cache to keep right, no cookie parser, no template engine',
  bare: 'all sign-in work: no session, no form token, no security headers, no request log',
  ours: 'other traffic: one session read again and again (served from its cache), no logins or other writes meanwhile (see 6. mixed)',
  okta: 'security headers; its sessions live in its process\'s memory (MemoryStore), so no database and nothing shared between instances',
  eoc: 'security headers and a form token; its session is an encrypted cookie, so no store',
};

/** What each login row leaves out. */
const LOGIN_LEAVES_OUT: Record<string, string> = {
  provider: 'any app: a client that checks nothing and keeps nothing',
  ours: 'a new user (alice returns each time); pages read meanwhile (see 6. mixed)',
  eoc: 'a store: its session is an encrypted cookie; a new user',
  okta: 'a database: its sessions stay in its process\'s memory; a new user',
};

/** What each bearer row leaves out. */
const BEARER_LEAVES_OUT: Record<string, string> = {
  bare: 'the user lookup, the request log, any cache to keep right',
  ours: 'other traffic: one token again and again (its cache serves it), no writes meanwhile',
};

/** What each scale row leaves out, by its cache state. */
const SCALE_LEAVES_OUT: Record<ScaleCache, string> = {
  warm: 'last_seen writes (pool marked seen ahead), logins and other writes',
  due: 'logins and other writes',
  off: 'the cache (SESSION_CACHE=off), last_seen writes (pool marked seen ahead), logins and other writes',
  scan: 'last_seen writes (pool marked seen ahead), logins and other writes',
};

/** What each mixed row leaves out. */
const mixedLeavesOut = (row: MixedRow) => (row.key === 'okta'
  ? 'security headers; a database: its sessions stay in its process\'s memory; logouts, refreshes'
  : 'logouts, token refreshes and renewals, bearer calls, other instances');

/** What a mixed row is called in the targets table. */
const mixedName = (row: MixedRow) => `${row.database}${row.sessions === 'one' ? ', all sessions one person\'s (who keeps signing in)' : ''}`;

/** Issue 18's targets: the pages users send, beside @okta/oidc-middleware in the same run. */
function issue18Targets(results: Results): Target[] {
  const out: Target[] = [];
  const mixed = results.mixed;
  if (mixed) {
    const okta = mixed.rows.find((row) => row.key === 'okta');
    const reference = okta ? summarise(okta) : undefined;
    for (const row of mixed.rows.filter((r) => r.key !== 'okta')) {
      const m = summarise(row);
      const allDone = m.done === m.attempted && m.failed === 0;
      out.push({
        measure: `mixed, ${mixedName(row)}: page rate kept with ${mixed.loginRate} logins/s, every login done`,
        target: '≥ 0.9, and more pages/s than @okta/oidc-middleware',
        figure: `kept ${m.kept.toFixed(3)} (rounds ${m.keptRounds.map((k) => k.toFixed(2)).join(', ')}; by CPU ${m.keptByCpu.toFixed(3)}); ${fmt(m.rpsWith)} pages/s with the logins vs @okta/oidc-middleware ${reference ? fmt(reference.rpsWith) : 'n/a'} (kept ${reference ? reference.kept.toFixed(3) : 'n/a'}); logins done ${m.done} of ${m.attempted}${m.failed ? ` (${m.failed} failed: ${m.firstError?.slice(0, 80)})` : ''}`,
        met: m.kept >= 0.9 && allDone && reference !== undefined && m.rpsWith > reference.rpsWith,
      });
    }
    if (mixed.postgresSkipped) out.push({ measure: 'mixed, PostgreSQL', target: '≥ 0.9, and more pages/s than @okta/oidc-middleware', figure: `not measured: ${mixed.postgresSkipped}`, met: undefined });
  }
  // Throughput ratios move with whatever else the machine runs; CPU per request from /proc hardly
  // does, so the CPU-bound capacity decides and req/s is shown beside it.
  const page = results.page;
  if (page) {
    const ours = page.get('ours')!;
    const floor = page.get('floor')!;
    const bare = page.get('bare')!;
    const okta = page.get('okta');
    const capacity = floor.cpuUsPerRequest / ours.cpuUsPerRequest;
    out.push({
      measure: 'authenticated page, by CPU (headline: SQLite, the default)',
      target: '≥ 0.9 × the floor',
      figure: `CPU per request ${fmt(ours.cpuUsPerRequest)} µs vs the floor's ${fmt(floor.cpuUsPerRequest)} µs = ${capacity.toFixed(3)} (req/s ${ratio(ours.rps, floor.rps)})${okta ? `; @okta/oidc-middleware ${ratio(floor.cpuUsPerRequest, okta.cpuUsPerRequest)}` : ''}; the floor is ${ratio(bare.cpuUsPerRequest, floor.cpuUsPerRequest)} × bare Fastify; profile below the page table`,
      met: capacity >= 0.9,
    });
    // The page measure runs on SQLite; the scale measure serves the same page from both databases,
    // and their ratio there carries the headline over to PostgreSQL.
    const warmSmall = (database: string) => results.scale?.rows.find((row) => row.database === database && row.cache === 'warm' && row.sessions !== results.options.sessions);
    const [sqlite, postgres] = [warmSmall('SQLite'), warmSmall('PostgreSQL')];
    if (sqlite && postgres) {
      const r = capacity * (sqlite.load.cpuUsPerRequest / postgres.load.cpuUsPerRequest);
      out.push({
        measure: 'authenticated page, by CPU, PostgreSQL',
        target: '≥ 0.9 × the floor',
        figure: `${r.toFixed(3)}: the SQLite figure × ${ratio(sqlite.load.cpuUsPerRequest, postgres.load.cpuUsPerRequest)}, the CPU per request of SQLite over PostgreSQL in the scale measure (${fmtCount(postgres.sessions)} sessions, cache warm: ${fmt(sqlite.load.cpuUsPerRequest)} µs vs ${fmt(postgres.load.cpuUsPerRequest)} µs)`,
        met: r >= 0.9,
      });
    }
  }
  const logins = results.logins;
  if (logins) {
    const ours = logins.get('ours')!;
    const okta = logins.get('okta')!;
    const pairs = ours.rounds.map((r, i) => r.appCpuMs / okta.rounds[i]!.appCpuMs);
    out.push({
      measure: 'app CPU per complete login, every check done',
      target: '≤ 1.5 ms, and below @okta/oidc-middleware in every run, not at parity',
      figure: `${fmt(ours.appCpuMs)} ms vs @okta/oidc-middleware ${fmt(okta.appCpuMs)} ms = ${ratio(ours.appCpuMs, okta.appCpuMs)} (each round: ${pairs.map((x) => x.toFixed(2)).join(', ')}); ${ours.errors} errors; profile below the logins table`,
      met: ours.appCpuMs <= 1.5 && pairs.every((x) => x < 1) && ours.errors === 0,
    });
  }
  return out;
}

/** Issue 11's targets that still stand (its page and login targets are issue 18's above). */
function issue11Targets(results: Results): Target[] {
  const out: Target[] = [];
  const bearer = results.bearer;
  if (bearer) {
    const ours = bearer.get('ours')!;
    const bare = bearer.get('bare')!;
    const capacity = bare.cpuUsPerRequest / ours.cpuUsPerRequest;
    out.push({
      measure: 'bearer JWT, × bare jose route',
      target: '≥ 1.0 (the cache pays for itself)',
      figure: `CPU per request ${fmt(ours.cpuUsPerRequest)} µs vs ${fmt(bare.cpuUsPerRequest)} µs = ${capacity.toFixed(3)} (req/s ${fmt(ours.rps)} vs ${fmt(bare.rps)} = ${ratio(ours.rps, bare.rps)})`,
      met: capacity >= 1,
    });
  }
  for (const database of ['SQLite', 'PostgreSQL'] as const) {
    const rows = results.scale?.rows.filter((row) => row.database === database) ?? [];
    if (rows.length === 0) {
      if (results.scale && database === 'PostgreSQL') out.push({ measure: `p99 at ${fmtCount(results.options.sessions)} sessions, PostgreSQL`, target: 'within 1.5× of p99 at 1k', figure: `not measured: ${results.scale.postgresSkipped}`, met: undefined });
      continue;
    }
    const small = (cache: ScaleCache) => rows.find((row) => row.sessions !== results.options.sessions && row.cache === cache);
    const large = (cache: ScaleCache) => rows.find((row) => row.sessions === results.options.sessions && row.cache === cache);
    const pairs = [['warm', 'warm', 'warm'], ['scan: a cycle through more sessions than it holds', 'off', 'scan'], ['cold: SESSION_CACHE=off', 'off', 'off']] as const;
    for (const [name, smallCache, largeCache] of pairs) {
      const s = small(smallCache);
      const l = large(largeCache);
      if (!s || !l) continue;
      const r = l.load.p99 / s.load.p99;
      out.push({
        measure: `p99 at ${fmtCount(l.sessions)} sessions, ${database}, cache ${name}`,
        target: `within 1.5× of p99 at ${fmtCount(s.sessions)}${smallCache === largeCache ? '' : ` (cache ${smallCache})`}`,
        figure: `${fmt(l.load.p99)} ms vs ${fmt(s.load.p99)} ms = ${r.toFixed(2)}×`,
        met: r <= 1.5,
      });
    }
  }
  for (const database of ['SQLite', 'PostgreSQL'] as const) {
    const large = results.scale?.rows.filter((row) => row.database === database && row.sessions === results.options.sessions) ?? [];
    if (large.length === 0) continue;
    const worst = large.reduce((a, b) => (b.load.peakMiB > a.load.peakMiB ? b : a));
    out.push({
      measure: `app RSS at ${fmtCount(worst.sessions)} sessions, ${database} (peak of its rows)`,
      target: '≤ 300 MiB',
      figure: large.map((row) => `${SCALE_CACHE_NAME[row.cache]} ${fmt(row.load.peakMiB)} MiB`).join(', '),
      met: worst.load.peakMiB <= 300,
    });
  }
  const revocation = results.revocation;
  if (revocation) {
    const r = revocation.result;
    out.push({
      measure: 'cross-instance revocation, p99',
      target: '≤ 100 ms',
      figure: r ? `${fmt(r.p99)} ms (p50 ${fmt(r.p50)} ms, ${r.rounds} logouts on B, polled on A)` : `not measured: ${revocation.skipped}`,
      met: r ? r.p99 <= 100 && r.cached === r.rounds : undefined,
    });
  }
  return out;
}

function fmtCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}

export function renderReport(results: Results): string {
  const { machine, options } = results;
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more);
  push(
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run.ts) on ${results.started.toISOString().slice(0, 16).replace('T', ' ')} UTC; the run took ${(results.durationS / 60).toFixed(1)} min.`,
    'Every figure is the median of the interleaved rounds; each is also given as a ratio to its ceiling. "core 0 used by others" is the median share of the server\'s core that other processes on the machine took during the runs (core 0 busy time minus the server\'s own CPU time): above a few percent, the figures on that row are disturbed. "server CPU µs/request" is the server process\'s CPU time (all threads, /proc/<pid>/stat) divided by the requests it answered: it hardly moves when other processes take part of the core, and "CPU-bound capacity × ceiling" compares those.',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| CPU | ${machine.cpu} |`,
    `| cores | ${machine.cores}: the server under test pinned to core 0 (taskset); the load generator (wrk, or the scripted login client), the development provider and PostgreSQL pinned to core 1 |`,
    `| memory | ${machine.memoryGiB} GiB |`,
    `| OS | ${machine.kernel} |`,
    `| Node | ${machine.node} for every server and the driver (the node@24 devDependency) |`,
    `| load generator | wrk ${machine.wrk}: 1 thread, ${options.connections} keep-alive connections, ${options.seconds} s per run |`,
    `| rounds | ${options.rounds} interleaved rounds after a ${options.warmupSeconds} s warm-up per server; the order rotates each round |`,
    `| SQLite | ${machine.sqlite} (node:sqlite) |`,
    ...(results.scale?.postgresVersion ? [`| PostgreSQL | ${results.scale.postgresVersion} (its default settings; shared_buffers ${results.scale.postgresSharedBuffers ?? '?'}) |`] : []),
    `| load average at start / end | ${results.loadAverage} / ${results.loadAverageEnd} |`,
    '',
  );

  const goals18 = issue18Targets(results);
  if (goals18.length > 0) {
    push(
      '## Targets (issue 18)',
      '',
      'Measured in this run beside @okta/oidc-middleware, every server in production mode with its request log on; ratios are against references measured in the same run, figures are medians of the rounds, CPU per request or login is from /proc.',
      '',
      '| measure | target | measured | |',
      '|---|---|---|---|',
    );
    for (const goal of goals18) push(`| ${goal.measure} | ${goal.target} | ${goal.figure} | ${yes(goal.met)} |`);
    push('');
  }
  const goals11 = issue11Targets(results);
  if (goals11.length > 0) {
    push('## Earlier targets (issue 11)', '', '| measure | target | measured | |', '|---|---|---|---|');
    for (const goal of goals11) push(`| ${goal.measure} | ${goal.target} | ${goal.figure} | ${yes(goal.met)} |`);
    push('');
  }

  if (results.page) {
    const floor = results.page.get('floor')!;
    const bare = results.page.get('bare')!;
    push(
      '## 1. Authenticated page',
      '',
      '`GET /` for a logged-in session (alice, logged in through the code flow against the development provider): "Hi alice - alice@example.com!" and a CSRF-protected logout form. The ceiling is **the floor**: a Fastify route that does only the work a signed-in page must do, each part the cheapest known way (bench/servers/floor.ts): a request log line as Fastify writes it in production (pino), the session cookie hashed with SHA-256, one Map lookup, the page with that session\'s form token, and the twelve security headers oidc-connect sends, computed once. Bare Fastify, the earlier ceiling, sends the same bytes as a constant and does none of that work: it is kept as a reference. "Leaves out" says what each row does not do that a real signed-in page would.',
      '',
      '| stack | leaves out | req/s | × floor | req/s min–max | p50 ms | p99 ms | server CPU µs/request | CPU-bound capacity × floor | × bare Fastify, by CPU | session cache hits | RSS MiB | core 0 used by others |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of results.page.values()) {
      push(`| ${row.label} | ${PAGE_LEAVES_OUT[row.key] ?? ''} | ${fmt(row.rps)} | ${ratio(row.rps, floor.rps)} | ${spreadText(row.rpsSpread)} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${fmt(row.cpuUsPerRequest)} | ${ratio(floor.cpuUsPerRequest, row.cpuUsPerRequest)} | ${ratio(bare.cpuUsPerRequest, row.cpuUsPerRequest)} | ${hits(row.counted, row.hitRatio)} | ${fmt(row.rssMiB)} | ${pct(row.otherLoad)} |`);
    }
    push('');
    // The page profile, measured apart (bench/page-profile.md), as the login one below.
    if (existsSync(PAGE_PROFILE)) push(readFileSync(PAGE_PROFILE, 'utf8').trimEnd(), '');
  }

  if (results.logins) {
    const provider = results.logins.get('provider')!;
    const eoc = results.logins.get('eoc');
    push(
      '## 2. Logins',
      '',
      `Complete logins through the authorization code flow, ${options.loginConcurrency} at a time, each as a new browser: the app's login route, the provider's authorize endpoint and login form (alice), the app's callback (token exchange, ID token and every check, userinfo, the local user, a new session). The ceiling is the provider alone: the same authorize, form, token and userinfo requests from a client that checks nothing. CPU time per login is read from /proc/<pid>/stat around each run (all threads: main, libuv pool, GC); app capacity is 1000 / app CPU ms, the logins/s one core would sustain for the app alone. Each round's ratio to @okta/oidc-middleware pairs the two servers' runs of that round. Every login is alice's, a returning user: no user is created (the mixed measure's logins are each a new person).`,
      '',
      '| stack | leaves out | logins/s | × provider alone | logins/s min–max | app CPU ms/login | app CPU × @okta/oidc-middleware (each round) | app CPU × express-openid-connect | app capacity, logins/s per core | provider CPU ms/login | errors | core 0 used by others |',
      '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    );
    const okta = results.logins.get('okta');
    for (const row of results.logins.values()) {
      const app = Number.isNaN(row.appCpuMs) ? '–' : fmt(row.appCpuMs);
      const vsOkta = Number.isNaN(row.appCpuMs) || !okta ? '–' : `${ratio(row.appCpuMs, okta.appCpuMs)} (${row.rounds.map((r, i) => ratio(r.appCpuMs, okta.rounds[i]!.appCpuMs)).join(', ')})`;
      const vsEoc = Number.isNaN(row.appCpuMs) || !eoc ? '–' : ratio(row.appCpuMs, eoc.appCpuMs);
      const capacity = Number.isNaN(row.appCpuMs) ? '–' : fmt(1000 / row.appCpuMs);
      push(`| ${row.label} | ${LOGIN_LEAVES_OUT[row.key] ?? ''} | ${fmt(row.loginsPerSecond)} | ${ratio(row.loginsPerSecond, provider.loginsPerSecond)} | ${spreadText(row.loginsSpread)} | ${app} | ${vsOkta} | ${vsEoc} | ${capacity} | ${fmt(row.providerCpuMs)} | ${row.errors}${row.firstError ? ` (${row.firstError.slice(0, 80)})` : ''} | ${pct(row.otherLoad)} |`);
    }
    push('');
    // The login profile, measured apart (bench/login-profile.md): a run here doesn't profile.
    if (existsSync(LOGIN_PROFILE)) push(readFileSync(LOGIN_PROFILE, 'utf8').trimEnd(), '');
  }

  if (results.bearer) {
    const bare = results.bearer.get('bare')!;
    push(
      '## 3. Bearer tokens',
      '',
      "`GET /api/me` with `Authorization: Bearer <alice's JWT access token>` (aud api://default, from her real login): oidc-connect verifies it with jose against the provider's cached JWKS (signature, iss, aud, exp/nbf/iat, typ, sub) and looks up the (issuer, sub) identity, or serves the token from its verified-token cache. The ceiling is a bare Fastify route running jose's `jwtVerify` with a local key and the same iss/aud/algorithm checks, with no user lookup and no request log.",
      '',
      '| route | leaves out | req/s | × ceiling | req/s min–max | p50 ms | p99 ms | p99 × ceiling | server CPU µs/request | CPU-bound capacity × ceiling | verified-token cache hits | core 0 used by others |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of results.bearer.values()) {
      push(`| ${row.label} | ${BEARER_LEAVES_OUT[row.key] ?? ''} | ${fmt(row.rps)} | ${ratio(row.rps, bare.rps)} | ${spreadText(row.rpsSpread)} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${fmt(row.p99 / bare.p99)} | ${fmt(row.cpuUsPerRequest)} | ${ratio(bare.cpuUsPerRequest, row.cpuUsPerRequest)} | ${hits(row.counted, row.hitRatio)} | ${pct(row.otherLoad)} |`);
    }
    push('');
  }

  if (results.scale) {
    const warmPool = results.scale.rows.find((row) => row.cache === 'warm' && row.sessions === options.sessions)?.pool;
    push(
      '## 4. Scale',
      '',
      `The authenticated page with the session table at ${fmtCount(options.smallSessions)} sessions (${fmtCount(options.smallSessions)} users) and at ${fmtCount(options.sessions)} sessions (${fmtCount(options.users)} users), with the app's session cache warm and cold. Rows are minted in the app's own schema and shaped like real ones: OIDC sessions carrying a real login's tokens (~2 KB of JSON). Each database size is served by several app processes on the same seeded database:`,
      '',
      `- **warm**: the cache is on; the requests go, at random, over a pool of up to ${fmtCount(warmPool ?? 0)} sessions drawn from the whole table (half of what the cache holds of them: ${fmtCount(DEFAULT_MAX_ENTRIES)} sessions and ${MAX_BYTES / 2 ** 20} MiB by its estimate), and each of them was requested once before the runs, so every request is served from the cache.`,
      `- **cold (off)**: the app runs with SESSION_CACHE=off, so every request reads its session and user from the database: what a request whose session is not cached does, at every size. The requests go, at random, over a pool of up to ${fmtCount(options.pool)} sessions drawn from the whole table.`,
      `- **scan**, on the large table only: the cache is on, at its default bound, and the requests walk the same pool in a fixed cycle that carries on from run to run, so each session comes round again only after ${fmtCount(options.pool)} others: a least-recently-used cache would miss every request and replace an entry at each. Full, this cache takes a session in only at its second read in a while (src/sessions/cache.ts), so it keeps the sessions it holds, which are hit when they come round, and the others are read from the database without being stored. Its p99 target is taken against the small table's "off" row (that table has fewer sessions than the cache holds, so it can't be walked that way).`,
      `- **due** (warm, last_seen due), on the large table only: as warm, over a pool of its own, but without the mark below, so each session's first request in a minute writes its last_seen, as a real user's first page each minute does. Its ratios are taken against the small table's warm row.`,
      '',
      `The warm, cold and scan pools are marked as seen an hour ahead, once, before the runs: the app writes last_seen at most once a minute per session, so none of their requests writes and every run measures the same read path at every size, which is what these rows compare. That is what they leave out, and the "due" row and the "requests that wrote" column (counted from the database after each run) show it. None of these rows has a login or any other write meanwhile: section 6 (mixed) has. The ceiling of each large-table figure is the same database at ${fmtCount(options.smallSessions)} sessions in the same cache state. Scale runs last ${Math.min(options.seconds, SCALE_SECONDS)} s, after a ${Math.min(options.warmupSeconds, SCALE_SECONDS)} s warm-up, as there are twelve servers in this measure. App RSS is read after each server's last run.`,
      '',
      '| database | cache | leaves out | sessions | users | pool | size on disk MiB | req/s | × small | p50 ms | p99 ms | p99 × small | app CPU µs/request | session cache hits | requests that wrote last_seen | app RSS MiB | app peak RSS MiB | core 0 used by others |',
      '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    // Each row's reference: the small table in the same cache state (scan: off; due: warm).
    const referenceCache: Record<ScaleCache, ScaleCache> = { warm: 'warm', due: 'warm', off: 'off', scan: 'off' };
    for (const database of ['SQLite', 'PostgreSQL'] as const) {
      const rows = results.scale.rows.filter((row) => row.database === database);
      for (const cache of ['warm', 'due', 'off', 'scan'] as const) {
        for (const row of rows.filter((r) => r.cache === cache)) {
          const small = rows.find((r) => r.sessions !== options.sessions && r.cache === referenceCache[cache]) ?? row;
          const wrote = row.load.writeShare === null ? '–' : `${(row.load.writeShare * 100).toFixed(row.load.writeShare > 0 && row.load.writeShare < 0.01 ? 2 : 1)}%`;
          push(`| ${database} | ${SCALE_CACHE_NAME[row.cache]} | ${SCALE_LEAVES_OUT[row.cache]} | ${fmtCount(row.sessions)} | ${fmtCount(row.users)} | ${fmtCount(row.pool)} | ${fmt(row.seed.sizeMiB)} | ${fmt(row.load.rps)} | ${ratio(row.load.rps, small.load.rps)} | ${fmt(row.load.p50)} | ${fmt(row.load.p99)} | ${fmt(row.load.p99 / small.load.p99)} | ${fmt(row.load.cpuUsPerRequest)} | ${hits(row.load.counted, row.load.hitRatio)} | ${wrote} | ${fmt(row.load.rssMiB)} | ${fmt(row.load.peakMiB)} | ${pct(row.load.otherLoad)} |`);
        }
      }
    }
    if (results.scale.postgresSkipped) push('', `PostgreSQL not measured: ${results.scale.postgresSkipped}.`);
    push('');
    // Where the memory goes, measured apart (bench/scale-memory.md).
    if (existsSync(SCALE_MEMORY)) push(readFileSync(SCALE_MEMORY, 'utf8').trimEnd(), '');
  }

  if (results.revocation) {
    const r = results.revocation.result;
    push(
      '## 5. Cross-instance revocation',
      '',
      `Two oidc-connect processes, A and B, on one PostgreSQL database${r ? ` (${r.postgresVersion})` : ''}, each with its session cache (SESSION_CACHE on, the default). In each round a session is shown on A, which caches it; a deactivation written straight to the users table, announced to no one, then checks that A answers from its cache. The session is logged out on B through its logout form, and A is asked for the page again at once, and again as soon as it answers, until it refuses the session. The figure is the time from B's answer to A's first refusal. Both apps on core 0; the driver and PostgreSQL on core 1.`,
      '',
    );
    if (r) {
      push(
        '| logouts | A served from its cache before the logout | A refused at its first look | p50 ms | p99 ms | max ms |',
        '|---:|---:|---:|---:|---:|---:|',
        `| ${r.rounds} | ${r.cached} | ${r.atOnce} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} |`,
      );
    } else {
      push(`Not measured: ${results.revocation.skipped}.`);
    }
    push('');
  }

  if (results.mixed) {
    const m = results.mixed;
    push(
      '## 6. Mixed: pages while people sign in',
      '',
      `The traffic users send. Each server has ${m.sessions} sessions, made before the runs by real logins through the code flow against the development provider: ${m.sessions} people signing in once each, or (the "one person" rows) one person signing in ${m.sessions} times. wrk reads those sessions in turn, one per request (\`GET /\`, ${options.connections} connections), for ${m.seconds} s alone, and for ${m.seconds} s while ${m.loginRate} more logins per second start, each as a new browser through the whole code flow: every login a different person who has never signed in here (a new user), or, in the one-person rows, that person again (so each login changes a user whose ${m.sessions} sessions are being read). Each round runs every server alone and with logins back to back (alone first in odd rounds, second in even ones), in an order that rotates; the page rate kept is the round's pages/s with the logins over pages/s alone, and its median is reported with each round's. A login is done when it ends with a session at most 1 s after its window closed. "Kept, by CPU" is the same ratio of pages per second of server CPU (/proc): what the page rate kept would be with core 0 to the server alone, were the server bound by its CPU; other processes on the core move it far less, and time the server spends waiting rather than computing it does not show. The server's CPU is its share of core 0, and "extra CPU per login" is the run with logins less what its pages cost at the CPU per page measured alone, over its logins: the login's own work and what it makes the pages cost more (a cache emptied, say). Nothing here is seeded or marked ahead: last_seen is written as it falls due (once a minute per session). @okta/oidc-middleware keeps its sessions in its process's memory, so no database and no cache is involved: it is measured once and is the reference of every row.`,
      '',
      '| database | server | sessions | leaves out | page rate kept (median; each round) | kept, by CPU | pages/s alone | pages/s with the logins | × @okta/oidc-middleware | logins done (of attempted) | login ms p50 / p99 | server CPU, share of core 0: alone / with logins | extra CPU per login, ms | session cache hits: alone / with logins | core 0 used by others |',
      '|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const okta = m.rows.find((row) => row.key === 'okta');
    const reference = okta ? summarise(okta) : undefined;
    for (const row of m.rows) {
      const x = summarise(row);
      const who = row.sessions === 'many' ? `${m.sessions} people, one each` : `one person's ${m.sessions}`;
      const logins = `${x.done} of ${x.attempted}${x.failed ? ` (${x.failed} failed: ${x.firstError?.slice(0, 60)})` : ''}`;
      push(`| ${row.database} | ${row.server} | ${who} | ${mixedLeavesOut(row)} | ${x.kept.toFixed(3)} (${x.keptRounds.map((k) => k.toFixed(2)).join(', ')}) | ${x.keptByCpu.toFixed(3)} | ${fmt(x.rpsAlone)} | ${fmt(x.rpsWith)} | ${reference ? ratio(x.rpsWith, reference.rpsWith) : 'n/a'} | ${logins} | ${fmt(x.loginP50)} / ${fmt(x.loginP99)} | ${pct(x.cpuAlone)} / ${pct(x.cpuWith)} | ${fmt(x.cpuPerLoginMs)} | ${hits(row.counted, x.hitsAlone)} / ${hits(row.counted, x.hitsWith)} | ${pct(x.otherLoad)} |`);
    }
    if (m.postgresSkipped) push('', `PostgreSQL not measured: ${m.postgresSkipped}.`);
    push('', 'Every page is the home page; one process per database, so no change arrives from another instance.', '');
  }

  if (results.protocols) {
    const plain = results.protocols.find((row) => row.key === 'plain')!;
    push(
      '## 7. Login CPU by protocol feature',
      '',
      `The complete login of section 2 through four oidc-connect processes that differ in one setting each, against a provider of their own, ${options.loginConcurrency} logins at a time, interleaved rounds: the default (client_secret_basic, and PAR since the provider offers it), without PAR, private_key_jwt (an RS256 assertion at PAR and at the token endpoint), and DPoP (a new ES256 key per login, sealed in the login's row; proofs at PAR, token and userinfo: the pushed request is sent twice, its first proof getting the provider's nonce, which the token request then carries; the development provider's userinfo asks a nonce of its own). The app's CPU per login is what each setting costs it.`,
      '',
      '| setting | app CPU ms/login | × the default | provider CPU ms/login | logins/s | logins | errors |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of results.protocols) {
      push(`| ${row.label} | ${fmt(row.appCpuMs)} | ${(row.appCpuMs / plain.appCpuMs).toFixed(2)} | ${fmt(row.providerCpuMs)} | ${fmt(row.loginsPerSecond)} | ${row.completed} | ${row.errors}${row.firstError ? ` (${row.firstError.slice(0, 80)})` : ''} |`);
    }
    push('');
  }

  const disturbed: string[] = [];
  for (const [section, rows] of [['page', results.page], ['bearer', results.bearer]] as const) {
    for (const row of rows?.values() ?? []) if (row.otherLoad > 0.05) disturbed.push(`${section}: ${row.label} (${pct(row.otherLoad)})`);
  }
  for (const row of results.logins?.values() ?? []) if (row.otherLoad > 0.05) disturbed.push(`logins: ${row.label} (${pct(row.otherLoad)})`);
  for (const row of results.scale?.rows ?? []) if (row.load.otherLoad > 0.05) disturbed.push(`scale: ${row.load.label} (${pct(row.load.otherLoad)})`);
  for (const row of results.mixed?.rows ?? []) {
    const load = summarise(row).otherLoad;
    if (load > 0.05) disturbed.push(`mixed: ${row.server} ${row.database} ${row.sessions} (${pct(load)})`);
  }
  const notes = disturbed.length > 0
    ? [`Other processes took more than 5% of core 0 during these rows' runs (median), so their req/s and latencies are understated; their CPU per request is not: ${disturbed.join('; ')}.`, ...results.notes]
    : results.notes;
  if (notes.length > 0) {
    push('## Notes', '');
    for (const note of notes) push(`- ${note}`);
    push('');
  }
  return lines.join('\n');
}
