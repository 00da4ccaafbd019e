import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate, openDatabase } from '../../src/db/index.ts';
import { Browser } from '../lib/http.ts';
import type { Options } from '../lib/options.ts';
import { freePort, LOAD_CORE, pinTree, SERVER_CORE, startServer, type Child } from '../lib/proc.ts';
import { cookieSecret } from '../lib/seed.ts';
import { OURS_CLIENT, oursEnvironment, SERVERS } from '../lib/stack.ts';
import { median } from '../lib/stats.ts';
import { localPostmaster } from './scale.ts';

export interface RevocationResult {
  rounds: number;
  /** ms from B's answer to the logout until A's first refusal, per round. */
  p50: number;
  p99: number;
  max: number;
  /** Rounds in which A already refused at its first look (the change had arrived before B answered). */
  atOnce: number;
  /** Rounds in which A served the session from its cache just before the logout (all of them, normally). */
  cached: number;
  postgresVersion: string;
}

export interface RevocationOutcome {
  result: RevocationResult | undefined;
  /** Why it was not measured, when it was not. */
  skipped: string | undefined;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const HOME_GREETING = /Hi user\d+ - /;
const LOGGED_OUT = /You are not logged in/;
const CSRF_FIELD = /name="_csrf" value="([^"]+)"/;

/** The pth percentile (nearest rank) of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * 5. Cross-instance revocation: two oidc-connect processes on one PostgreSQL database, each with its
 * session cache. In each round a session is shown on A (so A caches it), logged out on B through
 * the logout form, and A is asked again at once and as often as it answers, until it refuses the
 * session. The figure is the time from B's answer to A's first refusal; the contract is 100 ms at p99.
 */
export async function revocationSection(options: Options): Promise<RevocationOutcome> {
  if (!options.postgresUrl) return { result: undefined, skipped: 'neither BENCH_DATABASE_URL nor TEST_DATABASE_URL is set' };
  const admin = new pg.Client({ connectionString: options.postgresUrl });
  await admin.connect();
  const name = `oc_bench_${Date.now().toString(36)}_${process.pid}_revocation`;
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-bench-revocation-'));
  const children: Child[] = [];
  let client: pg.Client | undefined;
  let unpin: (() => void) | undefined;
  try {
    const postgresVersion = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    const url = new URL(options.postgresUrl);
    url.pathname = `/${name}`;
    await seed(url.href, options.revocations);
    // The database server shares the load generator's core, as in the scale measure.
    const postmaster = await localPostmaster(admin, options.postgresUrl);
    if (postmaster !== undefined) unpin = pinTree(postmaster, LOAD_CORE);

    const sessionSecret = randomBytes(32).toString('base64url');
    const instance = async (label: string) => {
      const port = await freePort();
      // In production, as the other measures; its sessions are local, so the provider (an address
      // where nothing listens) is never asked.
      const child = await startServer(`oidc-connect ${label}`, SERVERS.ours, SERVER_CORE, oursEnvironment({
        dir, port, databaseUrl: url.href, sessionSecret, issuer: `http://127.0.0.1:${await freePort()}/oauth2/default`, client: OURS_CLIENT,
      }));
      children.push(child);
      return String(child.info['url']);
    };
    const a = await instance('A');
    const b = await instance('B');

    const latencies: number[] = [];
    let atOnce = 0;
    let cached = 0;
    client = new pg.Client({ connectionString: url.href });
    await client.connect();
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the instances' listeners connect
    for (let round = 0; round < options.revocations; round++) {
      const browser = new Browser();
      for (const origin of [a, b]) browser.cookies(new URL(origin).host).set('oc_session', cookieSecret(round));
      // Shown on A, which caches it (once its listener is up). A deactivation written behind the
      // owner's back, so announced to no one, tells whether A now answers from its cache.
      const page = await browser.get(`${a}/`);
      if (!HOME_GREETING.test(page.body)) throw new Error(`round ${round}: A did not greet the session: ${page.status} ${page.body.slice(0, 200)}`);
      await client.query("UPDATE users SET is_active = 0 WHERE username = 'user' || $1", [round]);
      if (HOME_GREETING.test((await browser.get(`${a}/`)).body)) cached++;
      await client.query("UPDATE users SET is_active = 1 WHERE username = 'user' || $1", [round]);
      const home = await browser.get(`${b}/`);
      const token = CSRF_FIELD.exec(home.body)?.[1];
      if (!token) throw new Error(`round ${round}: B's page has no logout form: ${home.status} ${home.body.slice(0, 200)}`);
      const out = await browser.post(`${b}/accounts/logout/`, { _csrf: token });
      const loggedOut = performance.now();
      if (out.status !== 302) throw new Error(`round ${round}: logout on B answered ${out.status}: ${out.body.slice(0, 200)}`);
      for (let polls = 0; ; polls++) {
        const page = await browser.get(`${a}/`);
        if (LOGGED_OUT.test(page.body)) {
          latencies.push(performance.now() - loggedOut);
          if (polls === 0) atOnce++;
          break;
        }
        if (performance.now() - loggedOut > 10_000) throw new Error(`round ${round}: A still serves the session 10 s after the logout on B`);
      }
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    const result: RevocationResult = {
      rounds: sorted.length, p50: median(sorted), p99: percentile(sorted, 99), max: sorted.at(-1)!, atOnce, cached, postgresVersion,
    };
    log(`  revocation: ${result.rounds} rounds, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, max ${result.max.toFixed(2)} ms; A served from its cache before the logout in ${cached}, refused at its first look after it in ${atOnce}`);
    return { result, skipped: undefined };
  } finally {
    await client?.end();
    for (const child of children) await child.stop();
    unpin?.();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).catch(() => {});
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One local user and one session per round; session n has the cookie secret cookieSecret(n). */
async function seed(url: string, rounds: number): Promise<void> {
  const handle = openDatabase({ kind: 'postgres', url, display: url, poolSize: 1 });
  await migrate(handle);
  await handle.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const now = Date.now();
    const b64url = (bytes: string) => `rtrim(translate(encode(sha256(${bytes}), 'base64'), '+/', '-_'), '=')`;
    await client.query(`
      INSERT INTO users (username, email, first_name, last_name, password, is_active, is_staff, is_superuser, last_login, date_joined)
      SELECT 'user' || i, 'user' || i || '@example.com', '', '', NULL, 1, 0, 0, ${now}, ${now} FROM generate_series(0, ${rounds - 1}) AS i;
      INSERT INTO sessions (id, user_id, created, expires, last_seen, provider, provider_sid, user_agent, ip, data)
      SELECT ${b64url(`convert_to(${b64url("convert_to('oidc-connect-bench:' || i, 'UTF8')")}, 'UTF8')`)}, (SELECT id FROM users WHERE username = 'user' || i),
             ${now}, ${now + 24 * 3600_000}, ${now}, NULL, NULL, 'oidc-connect-bench', '127.0.0.1', '{}'
      FROM generate_series(0, ${rounds - 1}) AS i;`);
  } finally {
    await client.end();
  }
}
