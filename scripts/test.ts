/**
 * `npm test` after the type and import checks: every test file under Node's test runner, on
 * PostgreSQL as well as SQLite whenever PostgreSQL can be had, and a last line that counts and names
 * whatever was skipped, and why.
 *
 * PostgreSQL, in this order:
 * - TEST_DATABASE_URL as given (.ci/run sets it; a developer may);
 * - else, when PostgreSQL's initdb and pg_ctl are on PATH or in /usr/lib/postgresql/<version>/bin
 *   (Debian's postgresql package), a throwaway cluster: initdb in a temporary directory, listening on
 *   a free loopback port with a random password, stopped and removed when the run ends, also after a
 *   failure or Ctrl-C (and by the next run when this one was killed). initdb refuses to run as root,
 *   so as root the cluster runs as the postgres user (or nobody), owning that directory;
 * - else the PostgreSQL suites are skipped, with the reason, and the last line says so. With CI set
 *   they are not skipped: they fail (test/support/postgres.ts).
 *
 *   npm test                                   every test file
 *   npm test -- test/storage.test.ts           only these files (same PostgreSQL and summary)
 *   npm test -- --test-name-pattern=outage     node --test's own options pass through
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import type { SkipRecord } from './test-skips.ts';

const ROOT = join(import.meta.dirname, '..');
const FILES = ['src/**/*.test.ts', 'test/**/*.test.ts'];
const CLUSTER_PREFIX = 'oidc-connect-pg-';
const ROLE = 'oidc_connect_test';
const say = (line: string) => console.log(`npm test: ${line}`);

interface Cluster {
  readonly url: string;
  readonly description: string;
  stop(): void;
}

/**
 * The directory holding initdb and pg_ctl: TEST_POSTGRES_BIN when set (a version of one's choice, or a
 * directory without them to run as a machine without PostgreSQL), else PATH, then Debian's newest
 * /usr/lib/postgresql/<version>/bin.
 */
function postgresBinaries(): string | undefined {
  const explicit = process.env['TEST_POSTGRES_BIN'];
  if (explicit !== undefined) return existsSync(join(explicit, 'initdb')) && existsSync(join(explicit, 'pg_ctl')) ? explicit : undefined;
  const onPath = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((version) => `/usr/lib/postgresql/${version}/bin`)
    : [];
  return [...onPath, ...debian].find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

/** As root, the user the cluster runs as (initdb refuses root), with its ids; undefined otherwise. */
function clusterUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { name, uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run the cluster as (initdb refuses root)');
}

/** Runs a PostgreSQL program, as `user` when given (with runuser, which sets its groups too); throws with its output on failure. */
function runAs(user: string | undefined, command: string, args: string[]): void {
  const [file, argv] = user === undefined ? [command, args] : ['runuser', ['-u', user, '--', command, ...args]];
  const result = spawnSync(file, argv, { cwd: tmpdir(), encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${[command, ...args].join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startCluster(bin: string): Promise<Cluster> {
  sweepLeftoverClusters();
  const user = clusterUser();
  const dir = mkdtempSync(join(tmpdir(), CLUSTER_PREFIX));
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(join(dir, 'owner.pid'), `${process.pid}\n`);
  writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  if (user) for (const path of [dir, join(dir, 'owner.pid'), join(dir, 'password')]) chownSync(path, user.uid, user.gid);
  const stop = () => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        runAs(user?.name, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch (error) {
        console.error(`npm test: could not stop the PostgreSQL cluster in ${dir}: ${(error as Error).message}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A cluster for tests only: no fsync, nothing durable, a role that owns it all.
    runAs(user?.name, join(bin, 'initdb'), ['-D', data, '-U', ROLE, `--pwfile=${join(dir, 'password')}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
    for (let attempt = 1; ; attempt++) {
      // The port is free when chosen; another process may take it first, so a failed start tries another.
      const port = await freePort();
      const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
      try {
        runAs(user?.name, join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
      } catch (error) {
        if (attempt < 3) continue;
        throw new Error(`${(error as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : ''}`);
      }
      const version = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^postgres \(PostgreSQL\) /, '');
      return {
        url: `postgres://${ROLE}:${password}@127.0.0.1:${port}/postgres`,
        description: `a throwaway PostgreSQL ${version} cluster at 127.0.0.1:${port}${user ? ` (run as ${user.name})` : ''}`,
        stop,
      };
    }
  } catch (error) {
    stop();
    throw error;
  }
}

/**
 * Clusters left by runs that were killed before they could stop theirs: their owner.pid names a
 * process that is gone. Their postmaster (checked by its command line, so a reused pid is left alone)
 * is stopped at once and the directory removed.
 */
function sweepLeftoverClusters(): void {
  for (const name of readdirSync(tmpdir()).filter((entry) => entry.startsWith(CLUSTER_PREFIX))) {
    const dir = join(tmpdir(), name);
    const owner = Number(readFileSafe(join(dir, 'owner.pid')));
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
    const postmaster = Number(readFileSafe(join(dir, 'data', 'postmaster.pid')).split('\n')[0]);
    if (postmaster > 0 && alive(postmaster) && readFileSafe(`/proc/${postmaster}/cmdline`).includes(join(dir, 'data'))) {
      process.kill(postmaster, 'SIGQUIT'); // immediate shutdown
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The last lines: each test or suite skipped (or todo), then one line counting and naming them all by reason. */
function summary(records: SkipRecord[]): string[] {
  if (records.length === 0) return ['nothing skipped'];
  const reasonOf = (record: SkipRecord) => (record.reason === true ? 'no reason given' : record.reason);
  const lines = records.map((record) =>
    `  ${record.status === 'skip' ? 'SKIPPED' : 'TODO'} ${record.kind} ${record.file ? `${relative(ROOT, record.file)}: ` : ''}${record.name} (${reasonOf(record)})`);
  const byReason = new Map<string, SkipRecord[]>();
  for (const record of records) {
    const key = `${record.status === 'skip' ? '' : 'todo, '}${reasonOf(record)}`;
    byReason.set(key, [...(byReason.get(key) ?? []), record]);
  }
  const skipped = records.filter((record) => record.status === 'skip');
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const counts = `${skipped.length} SKIPPED (${plural(skipped.filter((r) => r.kind === 'suite').length, 'suite')}, ${plural(skipped.filter((r) => r.kind === 'test').length, 'test')})`
    + (skipped.length < records.length ? ` and ${records.length - skipped.length} TODO` : '');
  const groups = [...byReason].map(([reason, group]) => `${group.length} × ${reason}: ${group.map((record) => record.name).join('; ')}`);
  return [...lines, `${counts}. ${groups.join(' | ')}`];
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const options = args.filter((arg) => arg.startsWith('-'));
  const files = args.filter((arg) => !arg.startsWith('-'));
  // Password hashes at scrypt N=2^14, not 2^17: the suite signs in hundreds of times, and at full cost
  // hashing was most of its time (test/accounts.test.ts: 89 s against 8 s). The cost itself is tested
  // in src/accounts/passwords.test.ts and src/config/password-hash-cost.test.ts.
  const env: NodeJS.ProcessEnv = {
    ...process.env, UV_THREADPOOL_SIZE: process.env['UV_THREADPOOL_SIZE'] ?? '8', PASSWORD_HASH_COST: process.env['PASSWORD_HASH_COST'] ?? '14',
  };
  delete env['NODE_TEST_CONTEXT']; // a runner of its own, even when started from a test (test/test-runner.test.ts)
  // Ctrl-C reaches the test runner too (one process group), but not the cluster (pg_ctl gives it a
  // session of its own): whatever ends this run, the cluster is stopped below.
  let interrupted: NodeJS.Signals | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      interrupted = signal;
      if (signal !== 'SIGINT') child?.kill(signal);
    });
  }
  let cluster: Cluster | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'oidc-connect-test-'));
  try {
    if (env['TEST_DATABASE_URL']) {
      say('PostgreSQL from TEST_DATABASE_URL');
    } else {
      const bin = postgresBinaries();
      const inCi = !['', '0', 'false', undefined].includes(env['CI']?.toLowerCase());
      try {
        if (bin === undefined) {
          throw new Error(`TEST_DATABASE_URL is not set and PostgreSQL's initdb and pg_ctl are not ${process.env['TEST_POSTGRES_BIN'] === undefined ? 'installed' : `in TEST_POSTGRES_BIN=${process.env['TEST_POSTGRES_BIN']}`} (apt-get install postgresql, or set TEST_DATABASE_URL)`);
        }
        cluster = await startCluster(bin);
        env['TEST_DATABASE_URL'] = cluster.url;
        say(`PostgreSQL: ${cluster.description}, removed when the run ends`);
      } catch (error) {
        const reason = (error as Error).message;
        if (inCi) say(`PostgreSQL: none (${reason}); CI is set, so its tests fail instead of being skipped`);
        else say(`PostgreSQL: none, its suites will be skipped: ${reason}`);
        env['TEST_POSTGRES_MISSING'] = reason.split('\n')[0];
      }
    }
    if (interrupted) return 130;

    const skipsFile = join(scratch, 'skips.jsonl');
    const runner = spawn(process.execPath, [
      '--test', '--test-concurrency=2',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      `--test-reporter=${join(ROOT, 'scripts', 'test-skips.ts')}`, `--test-reporter-destination=${skipsFile}`,
      ...options, ...(files.length > 0 ? files : FILES),
    ], { cwd: ROOT, env, stdio: 'inherit' });
    child = runner;
    const code = await new Promise<number>((resolve) => runner.once('exit', (exit, signal) => resolve(exit ?? (signal ? 1 : 0))));
    cluster?.stop();
    cluster = undefined;
    const records = readFileSafe(skipsFile).split('\n').filter(Boolean).map((line) => JSON.parse(line) as SkipRecord);
    for (const line of summary(records)) say(line);
    return interrupted ? 130 : code;
  } finally {
    cluster?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main();
