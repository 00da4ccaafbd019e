import { countsBetween, hitRatio, readCounters, type CacheCounts, type CounterSource } from '../lib/counters.ts';
import type { Options } from '../lib/options.ts';
import { memoryMiB, withInterference } from '../lib/proc.ts';
import { median, spread } from '../lib/stats.ts';
import { wrk, type WrkOptions, type WrkResult } from '../lib/wrk.ts';

/** One thing to load with wrk. */
export interface LoadTarget {
  key: string;
  label: string;
  url: string;
  pid: number;
  headers?: Record<string, string>;
  script?: string;
  /** Runs before each run (e.g. a check). */
  before?: () => Promise<void>;
  /** The cache counters of a server with a cache (oidc-connect), read around each run. */
  counters?: CounterSource;
  /** How many of the run's requests wrote (last_seen), counted from the database after it, given its start and end times. */
  writes?: (since: number, until: number) => Promise<number>;
}

type Round = WrkResult & { otherLoad: number; cpuUsPerRequest: number; cache: CacheCounts | null; writes: number | null };

export interface LoadSummary {
  key: string;
  label: string;
  rps: number;
  p50: number;
  p99: number;
  rpsSpread: { min: number; max: number };
  /** Resident memory of the server after its last run, and its peak so far, MiB. */
  rssMiB: number;
  peakMiB: number;
  /** Median share of the server's core used by other processes during the runs (0..1). */
  otherLoad: number;
  /**
   * Median server CPU time per request, µs (all its threads, from /proc): unlike req/s, it hardly
   * moves when other processes take some of the core.
   */
  cpuUsPerRequest: number;
  /**
   * Session cache hits over lookups in the measured runs; null when the server has no cache, its
   * build counts nothing, or nothing was looked up.
   */
  hitRatio: number | null;
  /** Whether the server was asked for counters (a server with a cache). */
  counted: boolean;
  /** Share of the requests that wrote last_seen (the runs added up); null when not counted. */
  writeShare: number | null;
  rounds: Round[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Interleaved rounds: every target is warmed up once, then each round runs every target once, in an
 * order that rotates from round to round, so drift (thermal, other tenants) spreads evenly.
 */
export async function interleaved(section: string, targets: LoadTarget[], options: Options, extra: Partial<WrkOptions> = {}): Promise<Map<string, LoadSummary>> {
  const settings = (target: LoadTarget, durationS: number): WrkOptions => ({
    connections: options.connections,
    durationS,
    ...(target.headers ? { headers: target.headers } : {}),
    ...(target.script ? { script: target.script } : {}),
    ...extra,
  });
  const runs = new Map<string, Round[]>(targets.map((t) => [t.key, []]));
  if (options.warmupSeconds > 0) {
    for (const target of targets) {
      await target.before?.();
      await wrk(target.url, settings(target, options.warmupSeconds));
    }
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(i + round) % targets.length]!;
      await target.before?.();
      const counted = target.counters ? await readCounters(target.counters) : null;
      const since = Date.now();
      const { result, otherLoad, serverCpuMs } = await withInterference(target.pid, () => wrk(target.url, settings(target, options.seconds)));
      const writes = target.writes ? await target.writes(since, Date.now()) : null;
      if (result.errors > 0) throw new Error(`${section} ${target.label}: ${result.errors} errors or non-2xx answers in ${result.requests} requests`);
      const cache = target.counters ? countsBetween(counted, await readCounters(target.counters)) : null;
      const cpuUsPerRequest = (serverCpuMs * 1000) / result.requests;
      runs.get(target.key)!.push({ ...result, otherLoad, cpuUsPerRequest, cache, writes });
      const hits = (cache ? `, cache hits ${((hitRatio([cache]) ?? NaN) * 100).toFixed(1)}%` : '') + (writes === null ? '' : `, ${writes} last_seen writes`);
      log(`  ${section} round ${round + 1}/${options.rounds} ${target.label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${cpuUsPerRequest.toFixed(0)} µs CPU/request${hits}; other processes on core 0: ${(otherLoad * 100).toFixed(0)}%`);
    }
  }
  const summaries = new Map<string, LoadSummary>();
  for (const target of targets) {
    const rounds = runs.get(target.key)!;
    summaries.set(target.key, {
      key: target.key,
      label: target.label,
      rps: median(rounds.map((r) => r.rps)),
      p50: median(rounds.map((r) => r.p50)),
      p99: median(rounds.map((r) => r.p99)),
      rpsSpread: spread(rounds.map((r) => r.rps)),
      rssMiB: memoryMiB(target.pid).rss,
      peakMiB: memoryMiB(target.pid).peak,
      otherLoad: median(rounds.map((r) => r.otherLoad)),
      cpuUsPerRequest: median(rounds.map((r) => r.cpuUsPerRequest)),
      hitRatio: target.counters ? hitRatio(rounds.map((r) => r.cache)) : null,
      counted: target.counters !== undefined,
      writeShare: target.writes ? rounds.reduce((sum, r) => sum + r.writes!, 0) / rounds.reduce((sum, r) => sum + r.requests, 0) : null,
      rounds,
    });
  }
  return summaries;
}
