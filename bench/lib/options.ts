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
  /** Scale: how many distinct sessions the cold runs go over (the "scan" row walks them in a cycle); the warm pool is what the cache holds. */
  pool: number;
  /** BENCH_SECTIONS or `--only=…` (comma-separated), default all: page,bearer,logins,mixed,scale,revocation,protocols. */
  sections: Set<string>;
  /** Mixed: people signed in once each before the runs (their sessions are the pages read). BENCH_MIXED_SESSIONS, default 200. */
  mixedSessions: number;
  /** Mixed: new people signing in per second while the pages are read. BENCH_MIXED_LOGINS_PER_SECOND, default 10. */
  mixedLoginRate: number;
  /** Revocation: logouts measured. BENCH_REVOCATIONS, default 200. */
  revocations: number;
  /** PostgreSQL for the scale, mixed and revocation measures: BENCH_DATABASE_URL, else TEST_DATABASE_URL; skipped when neither is set. */
  postgresUrl: string | undefined;
  /** Where the results go. BENCH_RESULTS, default bench/RESULTS.md. */
  resultsFile: string;
  /** BENCH_CPU_PROF=dir: every server runs with `node --cpu-prof` and writes its profile there. */
  cpuProfDir: string | undefined;
  /** BENCH_NODE_ARGS: more Node flags for every server, space-separated (`--perf-basic-prof` for perf, `--trace-deopt`). */
  nodeArgs: string[];
}

function integer(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}=${raw}: expected an integer >= ${min}`);
  return value;
}

export const SECTIONS = ['page', 'bearer', 'logins', 'mixed', 'scale', 'revocation', 'protocols'] as const;

/** Sections that run on the shared stack (the provider, oidc-connect, the peers and the ceiling, with alice logged in to each). */
export const STACK_SECTIONS: readonly string[] = ['page', 'bearer', 'logins', 'mixed', 'scale'];

export function readOptions(resultsDefault: string, argv: readonly string[] = process.argv.slice(2)): Options {
  const only = argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
  const unknownArg = argv.find((arg) => !arg.startsWith('--only='));
  if (unknownArg !== undefined) throw new Error(`${unknownArg}: the only argument is --only=section,… (known: ${SECTIONS.join(', ')}); settings are BENCH_* variables`);
  const setting = only === undefined ? 'BENCH_SECTIONS' : '--only';
  const sections = new Set((only ?? process.env['BENCH_SECTIONS'] ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
  for (const section of sections) {
    if (!(SECTIONS as readonly string[]).includes(section)) throw new Error(`${setting}: unknown section ${section} (known: ${SECTIONS.join(', ')})`);
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
    mixedSessions: integer('BENCH_MIXED_SESSIONS', 200),
    mixedLoginRate: integer('BENCH_MIXED_LOGINS_PER_SECOND', 10),
    revocations: integer('BENCH_REVOCATIONS', 200),
    postgresUrl: process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || undefined,
    resultsFile: process.env['BENCH_RESULTS'] || resultsDefault,
    cpuProfDir: process.env['BENCH_CPU_PROF'] || undefined,
    nodeArgs: (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
  };
}
