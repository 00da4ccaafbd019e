// oidc-connect as `npm start` runs it (`oidc-connect serve`: the library's startServer, with the
// tutorial's app, its logger and one access-log line per request at LOG_LEVEL=info), minus the
// embedded provider, which runs in its own process so that its CPU is not counted here: the bench
// points OIDC_ISSUER at it. Configured by the usual environment variables (NODE_ENV, PORT, HOST,
// APP_URL, DATABASE_URL, SESSION_SECRET, OIDC_ISSUER, OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET,
// LOG_LEVEL); BENCH_DIR is its working directory; BENCH_APP_LOGGER=off runs it without a logger.
//
// Besides the app, a second listener on another loopback port (its address on the READY line)
// answers GET /counters with the caches' hit and miss counters (their `stats()`, where the build
// has them), so that the bench reads them without a route in the app under test.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, startServer } from '../../src/index.ts';
import { sessionCacheFor } from '../../src/sessions/cache.ts';
import { pluginState } from '../../src/web/plugin.ts';

const config = loadConfig({ cwd: process.env['BENCH_DIR'] ?? process.cwd() });
const server = await startServer(config, { logger: process.env['BENCH_APP_LOGGER'] !== 'off' });

/** Hits and misses of one cache, when this build counts them. */
interface Counts {
  hits: number;
  misses: number;
}

/** A cache's counters as it reports them (`stats()`: { hits, misses, size }); null when it has none. */
function counts(stats: { hits: number; misses: number } | null | undefined): Counts | null {
  return stats && typeof stats.hits === 'number' && typeof stats.misses === 'number' ? { hits: stats.hits, misses: stats.misses } : null;
}

/** The session cache's counters; null when the cache is off or this build does not count. */
function sessionCounts(): Counts | null {
  const cache = sessionCacheFor(server.database.db) as { stats?: () => Counts } | undefined;
  return counts(cache?.stats?.());
}

/** The verified bearer-token cache's counters (the app's BearerAuthenticator); null when not started or not counted. */
function bearerCounts(): Counts | null {
  const bearer = pluginState(server.app).bearer as { verifiedTokenStats?: () => Counts | null };
  return counts(bearer.verifiedTokenStats?.());
}

const side = createServer((request, response) => {
  if (request.url !== '/counters') return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ session: sessionCounts(), bearer: bearerCounts() }));
});
await new Promise<void>((resolve) => side.listen(0, '127.0.0.1', resolve));

process.on('SIGTERM', () => {
  side.close();
  void server.close().finally(() => process.exit(0));
});
console.error(`READY ${JSON.stringify({ url: config.appUrl, counters: `http://127.0.0.1:${(side.address() as AddressInfo).port}/counters` })}`);
