/** Benchmark settings, from the environment (all optional). */
export interface Options {
  /** Interleaved rounds per measure; medians are reported. BENCH_ROUNDS, default 5. */
  rounds: number;
  /** Seconds per measured run. BENCH_SECONDS, default 5. */
  seconds: number;
  /** Seconds of unrecorded warm-up per server before its rounds (JIT, caches). BENCH_WARMUP_SECONDS, default 5. */
  warmupSeconds: number;
  /** wrk connections (one wrk thread). BENCH_CONNECTIONS, default 32. */
  connections: number;
  /** Logins in flight at once. BENCH_LOGIN_CONCURRENCY, default 8. */
  loginConcurrency: number;
  /** Scale: sessions and users of the large database, sessions (= users) of the small one. */
  sessions: number;
  users: number;
  smallSessions: number;
  /** Scale: how many distinct sessions the requests of a run are spread over (large database). */
  pool: number;
  /** BENCH_SECTIONS, default all: page,bearer,logins,scale. */
  sections: Set<string>;
  /** PostgreSQL for the scale measure: BENCH_DATABASE_URL, else TEST_DATABASE_URL; skipped when neither is set. */
  postgresUrl: string | undefined;
  /** Where the results go. BENCH_RESULTS, default bench/RESULTS.md. */
  resultsFile: string;
  /** BENCH_CPU_PROF=dir: every server runs with `node --cpu-prof` and writes its profile there. */
  cpuProfDir: string | undefined;
}

function integer(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}=${raw}: expected an integer >= ${min}`);
  return value;
}

export const SECTIONS = ['page', 'bearer', 'logins', 'scale'] as const;

export function readOptions(resultsDefault: string): Options {
  const sections = new Set((process.env['BENCH_SECTIONS'] ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
  for (const section of sections) {
    if (!(SECTIONS as readonly string[]).includes(section)) throw new Error(`BENCH_SECTIONS: unknown section ${section} (known: ${SECTIONS.join(', ')})`);
  }
  return {
    rounds: integer('BENCH_ROUNDS', 5),
    seconds: integer('BENCH_SECONDS', 5),
    warmupSeconds: integer('BENCH_WARMUP_SECONDS', 5, 0),
    connections: integer('BENCH_CONNECTIONS', 32),
    loginConcurrency: integer('BENCH_LOGIN_CONCURRENCY', 8),
    sessions: integer('BENCH_SESSIONS', 1_000_000),
    users: integer('BENCH_USERS', 100_000),
    smallSessions: integer('BENCH_SMALL_SESSIONS', 1_000),
    pool: integer('BENCH_POOL', 20_000),
    sections,
    postgresUrl: process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || undefined,
    resultsFile: process.env['BENCH_RESULTS'] || resultsDefault,
    cpuProfDir: process.env['BENCH_CPU_PROF'] || undefined,
  };
}
