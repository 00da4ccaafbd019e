// oidc-connect as `npm start` runs it (the tutorial's app: the sign-in plugin plus its home page),
// minus the embedded provider, which runs in its own process so that its CPU is not counted here.
// Configured by the usual environment variables (PORT, APP_URL, DATABASE_URL, SESSION_SECRET,
// DEV_IDP_PORT, LOG_LEVEL); BENCH_DIR is its working directory.
import { buildApp, createRelyingParty, loadConfig, migrate, openDatabase } from '../../src/index.ts';
import { loggerOptions } from '../../src/web/logging.ts';

const config = loadConfig({ cwd: process.env['BENCH_DIR'] ?? process.cwd() });
const database = openDatabase(config.database);
await migrate(database);
const rp = createRelyingParty(config, database.db);
// The same logger as `oidc-connect serve` (src/server.ts), at LOG_LEVEL (BENCH_APP_LOGGER=off: none).
const app = await buildApp({ config, db: database.db, rp }, {
  logger: process.env['BENCH_APP_LOGGER'] === 'off' ? false : loggerOptions(config),
});
await app.listen({ port: config.port, host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => database.close()).finally(() => process.exit(0)));
console.log(`READY ${JSON.stringify({ url: config.appUrl })}`);
