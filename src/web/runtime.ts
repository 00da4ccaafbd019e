/**
 * The runtime: everything an app's sign-in runs on, before any web framework. The configuration,
 * the database, the relying party, the pages' look, the timers that sweep expired rows, the session
 * cache, and the development provider when asked for, started in order and stopped in reverse by
 * `close()`. The Fastify plugin is built on it, and so can another framework's adapter be.
 */
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig, withSessionSecret, type Config } from '../config/index.ts';
import { migrate, openDatabase, type Db } from '../db/index.ts';
import { startDevIdp, type DevIdp, type DevIdpOptions } from '../dev-idp/index.ts';
import { ConfigError } from '../errors.ts';
import { startMailSender } from '../mail/sender.ts';
import { mailSettings } from '../mail/settings.ts';
import { createMailTransport, type OutgoingMail } from '../mail/transport.ts';
import { createRelyingParty, type RelyingParty } from '../rp/index.ts';
import { startSessionCache } from '../sessions/cache.ts';
import type { AppContext, Mail } from './context.ts';
import { startHousekeeping } from './housekeeping.ts';
import { startMetrics } from './metrics.ts';
import { createViews, type ViewOptions } from './pages/views.ts';

/** A pino or Fastify logger fits. */
export type RuntimeLog = Pick<FastifyBaseLogger, 'info' | 'warn'>;

export interface RuntimeOptions extends ViewOptions {
  /** The validated configuration; default: `loadConfig()` from the environment and `.env`. */
  config?: Config;
  /** A Kysely database; default: opened from `config.database`, migrated, and closed by `close()`. */
  db?: Db;
  /** Default: `createRelyingParty(config, db, log)`. */
  rp?: RelyingParty;
  /**
   * true: start the embedded development provider, as `npm start` does, when no provider is
   * configured (no OIDC_ISSUER, OKTA_DOMAIN or providers file). Refused when NODE_ENV=production.
   */
  devIdp?: boolean;
  /** Default: warnings to the console. */
  log?: RuntimeLog;
}

export interface Runtime extends AppContext {
  /** The development provider `devIdp: true` started, or null. */
  readonly devIdp: DevIdp | null;
  /** Stops the timers and the development provider, and closes the database if it was opened here. */
  close(): Promise<void>;
}

const CONSOLE_LOG: RuntimeLog = { info: () => {}, warn: (...args: unknown[]) => console.warn(...args) };

export const DEV_IDP_IN_PRODUCTION = 'devIdp: true is refused when NODE_ENV=production: the development provider is for '
  + 'development only. Remove the option, and set OIDC_ISSUER (or OKTA_DOMAIN) with OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET.';

/**
 * Starts the runtime; the caller owns it and stops it with `close()`. Any step that fails undoes
 * the steps before it.
 *
 * @example
 * const runtime = await createRuntime({ devIdp: true, log: app.log });
 * app.addHook('onClose', () => runtime.close());
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const config = withSessionSecret(options.config ?? loadConfig());
  const log = options.log ?? CONSOLE_LOG;
  const views = createViews(options);
  if (options.devIdp && config.production) throw new ConfigError([DEV_IDP_IN_PRODUCTION]);
  const startDevProvider = options.devIdp === true && config.devIdp !== null;
  if (options.devIdp && !startDevProvider) {
    log.warn({ providers: config.providers.map((p) => p.issuer) }, 'devIdp: true ignored: a provider is configured');
  }
  // Once per start: a variable with a typo in its name is otherwise ignored without a word.
  for (const unknown of config.unknownVariables) {
    log.warn({ variable: unknown.name, source: unknown.source, didYouMean: unknown.didYouMean }, unknown.message);
  }

  // Undone in reverse order by close(), or at once if a later step fails.
  const stops: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    let db = options.db;
    if (!db) {
      const database = openDatabase(config.database);
      stops.push(() => database.close());
      await migrate(database);
      db = database.db;
    }
    const devIdp = startDevProvider ? await startConfiguredDevIdp(config) : null;
    if (devIdp) stops.push(() => devIdp.close());
    const rp = options.rp ?? createRelyingParty(config, db, log);
    // What OIDC_USE_PAR=on or OIDC_DPOP=on ask of a provider is checked now if it answers, else at its first sign-in.
    await Promise.all(config.providers.filter((p) => p.par === 'on' || p.dpop).map((p) => rp.provider(p.id).checkFeatures()));
    // Expired rows are swept on a timer, stopped before the database closes.
    const housekeeping = startHousekeeping({ db, lockout: config.lockout, auditRetentionDays: config.audit.retentionDays, log });
    stops.push(() => housekeeping.stop());
    // SESSION_CACHE: sessions served from memory, kept right by the database's change feed (src/sessions/cache.ts).
    const cache = config.session.cache ? startSessionCache(db, { log }) : undefined;
    if (cache) stops.push(() => cache.release());
    const mail = startMail(config, db, views.brandName, log);
    if (mail) stops.push(() => mail.stop());
    // METRICS=on: this app's registry, and METRICS_PORT's server when set (src/web/metrics.ts).
    const metrics = await startMetrics({ config, db }, log);
    if (metrics) stops.push(() => metrics.close());
    return { config, db, rp, views, devIdp, mail, metrics, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The mail transport and this instance's sender (src/mail/), or null when mail is not set up, which
 * production is told once. The development mailbox prints each mail's link.
 */
function startMail(config: Config, db: Db, brand: string, log: RuntimeLog): (Mail & { stop(): Promise<void> }) | null {
  // A warning: the mail was not sent, and the developer is to follow its link by hand.
  const mailbox = (mail: OutgoingMail) => log.warn({ to: mail.to, subject: mail.subject, links: mail.links },
    `Mail not sent (no EMAIL_URL), kept in the development mailbox, ${config.appUrl}/dev/mailbox/: "${mail.subject}" to ${mail.to}: ${(mail.links ?? []).join(' ')}`);
  const transport = createMailTransport(config.mail, mailbox);
  if (transport === null) {
    log.warn({}, config.production
      ? 'EMAIL_URL is not set: password reset by email and email verification are off'
      : 'EMAIL_URL is not set, and the development mailbox is only offered on a loopback APP_URL: password reset by email and email verification are off');
    return null;
  }
  const sender = startMailSender({ db, transport, settings: mailSettings(config, brand), log });
  return {
    transport,
    wake: () => sender.wake(),
    async stop() {
      await sender.stop();
      transport.close();
    },
  };
}

/** The development provider as the configuration sets it up (DEV_IDP_PORT, DEV_IDP_USERS_FILE), for `serve`, `dev-idp` and `devIdp: true`. */
export function startConfiguredDevIdp(config: Config): Promise<DevIdp> {
  return startDevIdp(devIdpOptions(config));
}

/**
 * What the development provider needs to know of the app's configuration: its port, users file,
 * and how the app's client authenticates (OIDC_RP_TOKEN_AUTH_METHOD, with the client's credentials).
 */
export function devIdpOptions(config: Config): DevIdpOptions {
  const app = config.devIdp ? config.providers[0] : undefined; // the development provider's client
  return {
    port: config.devIdp?.port ?? 9000,
    appUrl: config.appUrl,
    dataDir: config.dataDir,
    production: config.production,
    ...(config.devIdp?.usersFile ? { usersFile: config.devIdp.usersFile } : {}),
    ...(app ? { clientId: app.clientId, ...(app.clientSecret ? { clientSecret: app.clientSecret } : {}) } : {}),
    ...(app?.tokenAuthMethod ? { clientAuthMethod: app.tokenAuthMethod } : {}),
  };
}
