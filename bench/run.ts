// `npm run bench`: oidc-connect side by side with its ceilings and its peers, on loopback, pinned
// to the two cores (server: core 0; load generator: core 1), in interleaved rounds; the medians go to
// bench/RESULTS.md. Not part of `npm test`. Settings: see bench/lib/options.ts (BENCH_* variables)
// and bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMachine } from './lib/machine.ts';
import { readOptions, STACK_SECTIONS } from './lib/options.ts';
import { LOAD_CORE, pin, setServerLogDir, stopAll } from './lib/proc.ts';
import { renderReport, type Results } from './lib/report.ts';
import { providerDataDir, startStack } from './lib/stack.ts';
import { bearerSection } from './sections/bearer.ts';
import { loginSection } from './sections/logins.ts';
import { mixedPeople, mixedSection } from './sections/mixed.ts';
import { pageSection } from './sections/page.ts';
import { protocolSection } from './sections/protocols.ts';
import { revocationSection } from './sections/revocation.ts';
import { scaleSection } from './sections/scale.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const runStarted = performance.now();
/** Minutes since the run started, for the progress lines. */
const at = () => `[${((performance.now() - runStarted) / 60_000).toFixed(1)} min]`;
const readLoadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function preflight(needsWrk: boolean): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    throw new Error(`Node ${process.version}: run the benchmarks with \`npm run bench\`, which puts the node@24 devDependency first on PATH`);
  }
  const tools = [['taskset', 'apt-get install -y util-linux'], ...(needsWrk ? [['wrk', 'apt-get install -y wrk']] : [])] as const;
  for (const [tool, hint] of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: ${hint}`);
  }
  if (availableParallelism() < 2) throw new Error('the benchmarks need 2 cores: one for the server, one for the load generator');
}

const NOTES = [
  'Every server runs in production mode with its request log on, as `npm start` runs in production. oidc-connect runs as `oidc-connect serve` does (bench/servers/oidc-connect.ts: the library\'s startServer with NODE_ENV=production, its Fastify logger at the default LOG_LEVEL=info, one access-log line per request, SQLite file in WAL mode, OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS=3600), with the development provider given as OIDC_ISSUER: it runs in its own process (bench/servers/idp.ts, oidc-provider 9 with Okta\'s paths) so that its CPU is not counted as the app\'s. The peers run with NODE_ENV=production and one pino access-log line per request (bench/servers/access-log.ts), as pino-http writes in an Express app; the floor logs as Fastify does (pino). Each server\'s standard output goes to a file, as under a process manager that writes logs to disk.',
  'Peers are the bench-only devDependencies express-openid-connect 3.4.0 and @okta/oidc-middleware 5.5.1, on express 4.22.3, in the same Node, each logged in through a real code flow against the same provider with its own registered client. Their home pages are rendered with oidc-connect\'s own Eta template, so the HTML is the same.',
  'express-openid-connect is set up as its README shows for the code flow (response_type code, response_mode query, PKCE by default) with its default session: an encrypted, rolling cookie. It fetches userinfo in afterCallback (its documented way), because the provider releases the profile claims at userinfo, as Okta does. It has no CSRF token facility (its logout is a GET route), so its page carries an empty token: a little less work than the others.',
  '@okta/oidc-middleware is set up as its README shows (express-session with resave: true and saveUninitialized: false, in the default MemoryStore). It needs two changes to run against a loopback provider: `testing.disableHttpsCheck` (it refuses an http:// issuer), and PKCE, which it hard-codes off (`usePKCE: false` in src/oidcUtil.js) while the development provider, like an Okta app with "Require PKCE", refuses a code flow without it; its passport strategy (openid-client 5) is switched to S256 once created. Its page keeps a synchronizer CSRF token in the session.',
  'The login client, the provider and wrk share core 1, so logins/s is bounded by what core 1 can do (see "provider alone"); the app\'s CPU per login is measured on its own process and does not depend on that. The provider keeps its data on a RAM disk (/dev/shm): its SQLite store (src/dev-idp/op-storage.ts) runs in rollback-journal mode with synchronous=FULL, so on disk each of its ~8 writes per login waits for fsyncs and the provider, not the apps, would set every login figure.',
];

async function main(): Promise<void> {
  const options = readOptions(new URL('./RESULTS.md', import.meta.url).pathname);
  const needsStack = STACK_SECTIONS.some((section) => options.sections.has(section));
  preflight(needsStack);
  const startedAt = new Date();
  const started = performance.now();
  pin(process.pid, LOAD_CORE); // the driver is the load generator for logins, and spawns wrk there
  const loadAverage = readLoadAverage();
  log(`oidc-connect benchmarks: sections ${[...options.sections].join(', ')}; ${options.rounds} rounds × ${options.seconds} s`);

  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-bench-'));
  // The servers' request logs: in the run's folder, or kept apart with BENCH_VERBOSE.
  const logs = process.env['BENCH_VERBOSE'] ? mkdtempSync(join(tmpdir(), 'oidc-connect-bench-logs-')) : join(dir, 'logs');
  setServerLogDir(logs);
  if (process.env['BENCH_VERBOSE']) log(`the servers' logs are kept in ${logs}`);
  const providerDir = providerDataDir(dir);
  const cleanUp = () => {
    rmSync(dir, { recursive: true, force: true });
    if (!process.env['BENCH_IDP_DIR']) rmSync(providerDir, { recursive: true, force: true });
  };
  const results: Results = { machine: describeMachine(), started: startedAt, durationS: 0, options, loadAverage, loadAverageEnd: '', notes: needsStack ? NOTES : [] };
  const stopping = () => {
    void stopAll().finally(() => {
      cleanUp();
      process.exit(130);
    });
  };
  process.once('SIGINT', stopping);
  process.once('SIGTERM', stopping);
  try {
    if (needsStack) {
      log('starting the provider, oidc-connect, the peers and the ceiling; logging alice in to each');
      const stack = await startStack(dir, providerDir, options, mixedPeople(options));
      if (options.sections.has('page')) {
        log(`${at()} 1. authenticated page`);
        results.page = await pageSection(stack, options);
      }
      if (options.sections.has('bearer')) {
        log(`${at()} 3. bearer tokens`);
        results.bearer = (await bearerSection(stack, options)).results;
      }
      if (options.sections.has('logins')) {
        log(`${at()} 2. logins`);
        results.logins = await loginSection(stack, options);
      }
      if (options.sections.has('mixed')) {
        log(`${at()} 6. mixed: pages while people sign in`);
        results.mixed = await mixedSection(stack, options);
      }
      if (options.sections.has('scale')) {
        log(`${at()} 4. scale`);
        results.scale = await scaleSection(stack, options);
      }
      await stopAll(); // the revocation measure wants core 0 to itself
    }
    if (options.sections.has('revocation')) {
      log(`${at()} 5. cross-instance revocation`);
      results.revocation = await revocationSection(options);
    }
    if (options.sections.has('protocols')) {
      log(`${at()} 7. login CPU by protocol feature`);
      results.protocols = await protocolSection(options);
    }
  } finally {
    await stopAll();
    cleanUp();
  }
  results.durationS = (performance.now() - started) / 1000;
  results.loadAverageEnd = readLoadAverage();
  const report = renderReport(results);
  writeFileSync(options.resultsFile, report);
  process.stdout.write(`${report}\n`);
  log(`${at()} wrote ${options.resultsFile} (${(results.durationS / 60).toFixed(1)} min)`);
}

main().catch(async (error: unknown) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
