/** Hits and misses of one cache of an oidc-connect server (bench/servers/oidc-connect.ts serves them). */
export interface CacheCounts {
  hits: number;
  misses: number;
}

/** Which of a server's caches, and where it serves their counters. */
export interface CounterSource {
  url: string;
  cache: 'session' | 'bearer';
}

/** The cache's counters now; null when the cache is off or this build does not count. */
export async function readCounters(source: CounterSource): Promise<CacheCounts | null> {
  const response = await fetch(source.url);
  if (!response.ok) throw new Error(`${source.url} answered ${response.status}`);
  const body = (await response.json()) as Partial<Record<CounterSource['cache'], CacheCounts | null>>;
  return body[source.cache] ?? null;
}

/** The counters of an oidc-connect server started by the bench (the `counters` address on its READY line). */
export function countersOf(child: { info: Record<string, unknown> }, cache: CounterSource['cache']): CounterSource {
  return { url: String(child.info['counters']), cache };
}

/** Counts between two readings; null when either is missing. */
export function countsBetween(before: CacheCounts | null, after: CacheCounts | null): CacheCounts | null {
  return before && after ? { hits: after.hits - before.hits, misses: after.misses - before.misses } : null;
}

/** Hits over lookups of several runs added up; null when any run was not counted or nothing was looked up. */
export function hitRatio(runs: ReadonlyArray<CacheCounts | null>): number | null {
  let hits = 0;
  let lookups = 0;
  for (const run of runs) {
    if (run === null) return null;
    hits += run.hits;
    lookups += run.hits + run.misses;
  }
  return lookups > 0 ? hits / lookups : null;
}
