import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { countersOf, countsBetween, hitRatio, readCounters, type CacheCounts, type CounterSource } from '../lib/counters.ts';
import { appLogin, type AppLoginTarget, type Credentials } from '../lib/logins.ts';
import type { Options } from '../lib/options.ts';
import { LOAD_CORE, pinTree, withInterference, type Child } from '../lib/proc.ts';
import { cookieHeader, person, SOLO, type Stack } from '../lib/stack.ts';
import { median } from '../lib/stats.ts';
import { writeCycleScript, wrk, type WrkResult } from '../lib/wrk.ts';
import { localPostmaster } from './scale.ts';

/** Seconds per mixed run (at most), alone and with logins: five servers, two runs each per round. */
export const MIXED_SECONDS = 3;

/**
 * Seconds of each server's warm-up run (at most): the sign-ins before the runs have warmed the login
 * path already, and the page's path is short.
 */
const MIXED_WARMUP_SECONDS = 2;

/** A login counts as done when it ends with a session at most this long after its window closed. */
const GRACE_MS = 1000;

/** Logins in flight while the sessions are made, before the runs. */
const SETUP_CONCURRENCY = 8;

/** Whose sessions the pages read: one person each, or all of one person's. */
export type MixedSessions = 'many' | 'one';

/** One run: wrk reading the sessions in turn, alone or while people sign in. */
export interface MixedRun extends WrkResult {
  /** Server CPU time in the run, ms (/proc). */
  cpuMs: number;
  elapsedMs: number;
  otherLoad: number;
  cache: CacheCounts | null;
}

export interface LoginTally {
  attempted: number;
  /** Ended with a session within the window (and GRACE_MS). */
  done: number;
  failed: number;
  firstError: string | undefined;
  /** Durations of the logins that ended with a session, ms. */
  durations: number[];
}

export interface MixedRound {
  alone: MixedRun;
  withLogins: MixedRun;
  logins: LoginTally;
  /** Pages/s with the logins over pages/s alone, in this round. */
  kept: number;
  /**
   * Pages per second of server CPU with the logins over the same alone: what `kept` would be if the
   * server had its core to itself and were bound by its CPU. Other processes on the core move it
   * far less than `kept`; time the server spends waiting, not computing, it does not show.
   */
  keptByCpu: number;
}

export interface MixedRow {
  key: string;
  server: string;
  database: string;
  sessions: MixedSessions;
  /** Whether the server has a cache whose counters were asked for. */
  counted: boolean;
  rounds: MixedRound[];
}

export interface MixedOutcome {
  rows: MixedRow[];
  /** Sessions read by wrk per server, and people signing in per second meanwhile. */
  sessions: number;
  loginRate: number;
  seconds: number;
  postgresSkipped: string | undefined;
}

interface Target {
  key: string;
  server: string;
  database: string;
  sessions: MixedSessions;
  url: string;
  pid: number;
  login: AppLoginTarget;
  /** Cookies a browser keeps besides the session's own that are not part of a page view. */
  skipCookies: string[];
  counters: CounterSource | undefined;
  /** Who signs in next (every login a different person, or the one person). */
  next: () => Credentials;
  script: string;
}

/** What a signed-in person's home page says (their username is their address's local part). */
const greeting = (who: Credentials) => `Hi ${who.email.slice(0, who.email.indexOf('@'))} - ${who.email}!`;

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * People the mixed measure needs at the provider: one per session, and one per login of one server's
 * warm-up and runs (each server takes them in the same order), and a margin: a login for someone the
 * provider doesn't know would fail and count against the server.
 */
export function mixedPeople(options: Options): number {
  const seconds = Math.min(options.seconds, MIXED_SECONDS);
  const warmup = Math.min(options.warmupSeconds, MIXED_WARMUP_SECONDS);
  return options.mixedSessions + Math.ceil(options.mixedLoginRate * (warmup + options.rounds * seconds) * 1.2) + 10;
}

/** Signs `count` people in to the target, `SETUP_CONCURRENCY` at a time; returns each browser's page cookies. */
async function signIn(target: Target, count: number): Promise<string[]> {
  const cookies: string[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, async () => {
    while (next < count) {
      const i = next++;
      const who = target.next();
      const browser = await appLogin(target.login, who);
      const page = await browser.get(`${target.url}/`); // where the login lands (next=/)
      if (page.status !== 200 || !page.body.includes(greeting(who))) {
        throw new Error(`${target.server}: ${who.email}'s page after the login answered ${page.status} without "${greeting(who)}"`);
      }
      cookies[i] = cookieHeader(browser, target.url, target.skipCookies);
    }
  }));
  return cookies;
}

/** Starts a login every 1/rate s for `durationMs`, each as a new browser; resolves when all have ended. */
async function trickle(target: Target, rate: number, durationMs: number): Promise<LoginTally> {
  const started = performance.now();
  const closes = started + durationMs;
  const pending: Array<Promise<{ ok: true; ended: number; ms: number } | { ok: false; error: string }>> = [];
  for (let i = 0; ; i++) {
    const at = started + (i * 1000) / rate;
    if (at >= closes) break;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const who = target.next();
    const t0 = performance.now();
    pending.push(appLogin(target.login, who).then(
      () => ({ ok: true as const, ended: performance.now(), ms: performance.now() - t0 }),
      (error: unknown) => ({ ok: false as const, error: (error as Error).message }),
    ));
  }
  const ended = await Promise.all(pending);
  const tally: LoginTally = { attempted: ended.length, done: 0, failed: 0, firstError: undefined, durations: [] };
  for (const login of ended) {
    if (!login.ok) {
      tally.failed++;
      tally.firstError ??= login.error;
    } else {
      tally.durations.push(login.ms);
      if (login.ended <= closes + GRACE_MS) tally.done++;
    }
  }
  return tally;
}

/** One wrk run over the target's sessions, with `during` (the logins) at the same time. */
async function run<T>(target: Target, seconds: number, connections: number, during: () => Promise<T>): Promise<{ run: MixedRun; during: T }> {
  const before = target.counters ? await readCounters(target.counters) : null;
  const started = performance.now();
  const { result, otherLoad, serverCpuMs } = await withInterference(target.pid, () => Promise.all([
    wrk(`${target.url}/`, { connections, durationS: seconds, script: target.script }),
    during(),
  ]));
  const elapsedMs = performance.now() - started;
  const [page, extra] = result;
  if (page.errors > 0) throw new Error(`mixed ${target.server}: ${page.errors} errors or non-2xx answers in ${page.requests} requests`);
  const cache = target.counters ? countsBetween(before, await readCounters(target.counters)) : null;
  return { run: { ...page, cpuMs: serverCpuMs, elapsedMs, otherLoad, cache }, during: extra };
}

const NO_LOGINS: LoginTally = { attempted: 0, done: 0, failed: 0, firstError: undefined, durations: [] };

/**
 * The mixed measure: many people signed in once each, wrk reading their sessions in turn, first alone
 * and then while `mixedLoginRate` more people sign in per second through the real code flow (every
 * login a different person), on SQLite and on PostgreSQL, beside @okta/oidc-middleware; and the same
 * with every session one person's, who keeps signing in. Interleaved rounds; in each, every server runs
 * alone and with logins back to back (the order alternates), and the page rate it kept is the ratio.
 */
export async function mixedSection(stack: Stack, options: Options): Promise<MixedOutcome> {
  const seconds = Math.min(options.seconds, MIXED_SECONDS);
  const warmupSeconds = Math.min(options.warmupSeconds, MIXED_WARMUP_SECONDS);
  const outcome: MixedOutcome = { rows: [], sessions: options.mixedSessions, loginRate: options.mixedLoginRate, seconds, postgresSkipped: undefined };
  const children: Child[] = [];
  const created: string[] = [];
  const files: string[] = [];
  let admin: pg.Client | undefined;
  let unpin: (() => void) | undefined;
  try {
    const databases: Array<{ name: string; url: (sessions: MixedSessions) => Promise<string> }> = [{
      name: 'SQLite',
      url: async (sessions) => {
        const file = join(stack.dir, `mixed-${sessions}.sqlite`);
        files.push(file);
        return `sqlite:${file}`;
      },
    }];
    if (options.postgresUrl) {
      const adminClient = new pg.Client({ connectionString: options.postgresUrl });
      admin = adminClient;
      await adminClient.connect();
      // The database server shares the load generator's core, as in the scale measure.
      const postmaster = await localPostmaster(adminClient, options.postgresUrl);
      if (postmaster !== undefined) unpin = pinTree(postmaster, LOAD_CORE);
      databases.push({
        name: 'PostgreSQL',
        url: async (sessions) => {
          const name = `oc_bench_${Date.now().toString(36)}_${process.pid}_mixed_${sessions}`;
          await adminClient.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
          created.push(name);
          const url = new URL(options.postgresUrl!);
          url.pathname = `/${name}`;
          return url.href;
        },
      });
    } else {
      outcome.postgresSkipped = 'neither BENCH_DATABASE_URL nor TEST_DATABASE_URL is set';
    }

    const targets: Target[] = [];
    const script = (key: string) => join(stack.dir, `mixed-${key}.lua`);
    let slot = 0;
    for (const database of databases) {
      for (const sessions of ['many', 'one'] as const) {
        const key = `ours ${database.name} ${sessions}`;
        const started = await stack.startMixedOurs(slot++, `oidc-connect mixed ${database.name} ${sessions}`, await database.url(sessions));
        children.push(started.child);
        let n = 0;
        targets.push({
          key, server: 'oidc-connect', database: database.name, sessions, url: started.url, pid: started.child.pid, login: started.login,
          skipCookies: ['oc_flow'], counters: countersOf(started.child, 'session'),
          next: sessions === 'many' ? () => person(n++) : () => SOLO,
          script: script(key.replace(/\W+/g, '-')),
        });
      }
    }
    // Its sessions live in its process's memory (express-session's MemoryStore), so no database, no
    // cache and no announced change is involved: one server is the reference for every row.
    let n = 0;
    targets.push({
      key: 'okta', server: '@okta/oidc-middleware', database: 'its memory', sessions: 'many', url: stack.okta.url, pid: stack.okta.child.pid,
      login: stack.okta.login!, skipCookies: [], counters: undefined, next: () => person(n++),
      script: script('okta'),
    });

    for (const target of targets) {
      log(`  mixed: signing ${options.mixedSessions} ${target.sessions === 'many' ? 'people' : `sessions of ${SOLO.email}`} in to ${target.server} (${target.database})`);
      writeCycleScript(target.script, await signIn(target, options.mixedSessions));
    }

    const rounds = new Map<string, MixedRound[]>(targets.map((t) => [t.key, []]));
    const connections = options.connections;
    const logins = (target: Target, s: number) => () => trickle(target, options.mixedLoginRate, s * 1000);
    if (warmupSeconds > 0) for (const target of targets) await run(target, warmupSeconds, connections, logins(target, warmupSeconds));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + round) % targets.length]!;
        const measure = async (withLogins: boolean) => withLogins
          ? run(target, seconds, connections, logins(target, seconds))
          : run(target, seconds, connections, async () => NO_LOGINS);
        // Alone first in even rounds, with logins first in odd ones: drift within a round cancels out.
        const first = await measure(round % 2 === 1);
        const second = await measure(round % 2 === 0);
        const [alone, withLogins] = round % 2 === 1 ? [second, first] : [first, second];
        const perCpu = (r: MixedRun) => r.requests / r.cpuMs;
        const entry: MixedRound = {
          alone: alone.run, withLogins: withLogins.run, logins: withLogins.during,
          kept: withLogins.run.rps / alone.run.rps, keptByCpu: perCpu(withLogins.run) / perCpu(alone.run),
        };
        rounds.get(target.key)!.push(entry);
        const hit = (r: MixedRun) => (r.cache ? ` (cache hits ${((hitRatio([r.cache]) ?? NaN) * 100).toFixed(1)}%)` : '');
        const l = entry.logins;
        log(`  mixed round ${round + 1}/${options.rounds} ${target.server} ${target.database} ${target.sessions}: ${alone.run.rps.toFixed(0)} pages/s alone${hit(alone.run)}, ${withLogins.run.rps.toFixed(0)} with logins${hit(withLogins.run)}, kept ${entry.kept.toFixed(3)} (by CPU ${entry.keptByCpu.toFixed(3)}); logins ${l.done}/${l.attempted} done${l.failed ? `, ${l.failed} failed (${l.firstError})` : ''}, p99 ${Math.max(...l.durations, 0).toFixed(0)} ms max; other processes on core 0: ${(alone.run.otherLoad * 100).toFixed(0)}% / ${(withLogins.run.otherLoad * 100).toFixed(0)}%`);
      }
    }
    outcome.rows = targets.map((t) => ({ key: t.key, server: t.server, database: t.database, sessions: t.sessions, counted: t.counters !== undefined, rounds: rounds.get(t.key)! }));
    return outcome;
  } finally {
    for (const child of children) await child.stop();
    unpin?.();
    for (const name of created) await admin!.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).catch(() => {});
    await admin?.end();
    for (const file of files) for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }
}

/** Figures of one row, from its rounds: medians, and the logins added up. */
export function summarise(row: MixedRow): {
  kept: number; keptRounds: number[]; keptByCpu: number; rpsAlone: number; rpsWith: number; attempted: number; done: number; failed: number;
  loginP50: number; loginP99: number; cpuAlone: number; cpuWith: number; cpuPerLoginMs: number; hitsAlone: number | null; hitsWith: number | null;
  otherLoad: number; firstError: string | undefined;
} {
  const r = row.rounds;
  const durations = r.flatMap((x) => x.logins.durations).sort((a, b) => a - b);
  const pct = (p: number) => (durations.length === 0 ? NaN : durations[Math.min(durations.length - 1, Math.ceil((p / 100) * durations.length) - 1)]!);
  // What each login costs the server: the run with logins less what its pages cost at the CPU per
  // page measured alone, so it counts the login's own work and what it makes the pages cost more.
  const perLogin = r.map((x) => {
    const pageCpu = (x.alone.cpuMs / x.alone.requests) * x.withLogins.requests;
    return (x.withLogins.cpuMs - pageCpu) / Math.max(1, x.logins.done + x.logins.failed);
  });
  return {
    kept: median(r.map((x) => x.kept)),
    keptRounds: r.map((x) => x.kept),
    keptByCpu: median(r.map((x) => x.keptByCpu)),
    rpsAlone: median(r.map((x) => x.alone.rps)),
    rpsWith: median(r.map((x) => x.withLogins.rps)),
    attempted: r.reduce((sum, x) => sum + x.logins.attempted, 0),
    done: r.reduce((sum, x) => sum + x.logins.done, 0),
    failed: r.reduce((sum, x) => sum + x.logins.failed, 0),
    loginP50: pct(50),
    loginP99: pct(99),
    cpuAlone: median(r.map((x) => x.alone.cpuMs / x.alone.elapsedMs)),
    cpuWith: median(r.map((x) => x.withLogins.cpuMs / x.withLogins.elapsedMs)),
    cpuPerLoginMs: median(perLogin),
    hitsAlone: row.counted ? hitRatio(r.map((x) => x.alone.cache)) : null,
    hitsWith: row.counted ? hitRatio(r.map((x) => x.withLogins.cache)) : null,
    otherLoad: median(r.flatMap((x) => [x.alone.otherLoad, x.withLogins.otherLoad])),
    firstError: r.find((x) => x.logins.firstError)?.logins.firstError,
  };
}
