/**
 * Prometheus metrics (METRICS=on), in a registry of this app's own: a host's registry, or prom-client's
 * global one, is left alone, and two apps in one process don't mix their figures. Events are counted as
 * they happen (sign-ins, pages, provider calls); everything else is read when Prometheus scrapes, by
 * collect callbacks, so a metric costs nothing between scrapes. Every label takes a bounded set of
 * values: route patterns, never URLs; provider ids of the configuration; our error codes.
 *
 * Served at /metrics on the app's port behind METRICS_TOKEN, or on METRICS_PORT alone (src/config/metrics.ts).
 * docs/operations.md lists each metric.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { lockedCount } from '../accounts/lockout.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { changeFeedOf } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { CacheStats } from '../db/invalidated-cache.ts';
import { ERROR_CODES } from '../errors.ts';
import { outboxDepth } from '../mail/outbox.ts';
import { PROVIDER_CALLS, type ProviderCall } from '../rp/http.ts';
import { sessionCacheFor } from '../sessions/cache.ts';
import { carriesToken } from './protection/bearer-secrets.ts';
import { hashingCapacityOf } from './protection/hashing-capacity.ts';

export interface AppMetrics {
  /** This app's registry: `await metrics.registry.metrics()` is the text Prometheus scrapes. */
  readonly registry: Registry;
  /** Counts a sign-in attempt from its audit event (login_success and login_failure; others are ignored). */
  signIn(event: Pick<AuditEvent, 'type' | 'method' | 'errorCode'>): void;
  /** Times an answer: its route pattern (undefined: no route matched), method and status. */
  page(route: string | undefined, method: string, status: number, seconds: number): void;
  /** Adds the bearer verifier's cache of verified tokens to what is collected. */
  watchBearerCache(stats: () => CacheStats | null): void;
  /** Whether a scrape's Authorization header may read the metrics (METRICS_TOKEN, when set). */
  authorized(authorization: string | undefined): boolean;
  /** METRICS_PORT's server once it listens (its port, when 0 took a free one); null without METRICS_PORT. */
  readonly address: AddressInfo | null;
  /** Stops listening to provider calls, and the METRICS_PORT server. */
  close(): Promise<void>;
}

/** Provider calls take tens of milliseconds to seconds; pages, a millisecond to seconds. */
const PROVIDER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** A client may send any method name; others are labelled OTHER. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** How a sign-in event's method is labelled: the form, a passkey alone, or a provider (then named by `provider`). */
function signInMethod(method: string | undefined): 'password' | 'passkey' | 'provider' {
  if (method === 'local') return 'password';
  if (method === 'passkey') return 'passkey';
  return 'provider';
}

/**
 * Makes this app's metrics, and starts METRICS_PORT's server when it is set; null when METRICS is off.
 *
 * @example
 * const metrics = await startMetrics({ config, db }, log);
 * const text = await metrics?.registry.metrics();
 */
export async function startMetrics(ctx: { config: Config; db: Db }, log: { warn(details: object, message: string): void }): Promise<AppMetrics | null> {
  const settings = ctx.config.metrics;
  if (settings === null) return null;
  const { config, db } = ctx;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const providerIds = new Map(config.providers.map((p) => [p.issuer, p.id]));
  const knownCodes = new Set<string>(Object.keys(ERROR_CODES));

  const signIns = new Counter({
    name: 'oidc_connect_sign_ins_total',
    help: 'Sign-in attempts by method (password, passkey, provider), provider id, and outcome (success or our error code).',
    labelNames: ['method', 'provider', 'outcome'] as const,
    registers: [registry],
  });
  const pages = new Histogram({
    name: 'oidc_connect_http_request_duration_seconds',
    help: 'Time to answer a request, by route pattern (unmatched when none), method and status class.',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: PAGE_BUCKETS,
    registers: [registry],
  });
  const providerCalls = new Histogram({
    name: 'oidc_connect_provider_request_duration_seconds',
    help: 'Time of each request to a provider, by provider id, endpoint, and outcome (status class, or error when none came).',
    labelNames: ['provider', 'endpoint', 'outcome'] as const,
    buckets: PROVIDER_BUCKETS,
    registers: [registry],
  });
  const onProviderCall = (message: unknown) => {
    const call = message as ProviderCall;
    const provider = providerIds.get(call.issuer);
    if (provider === undefined) return; // another app's provider, in this process
    providerCalls.observe({ provider, endpoint: call.endpoint, outcome: call.status === 0 ? 'error' : `${Math.floor(call.status / 100)}xx` }, call.seconds);
  };
  subscribe(PROVIDER_CALLS, onProviderCall);

  // Caches: their own counters since they started, turned into counter increments at each scrape.
  let bearerStats: () => CacheStats | null = () => null;
  const caches = { session: () => sessionCacheFor(db)?.stats() ?? null, bearer_token: () => bearerStats() };
  const seen = new Map<string, number>();
  new Counter({
    name: 'oidc_connect_cache_lookups_total',
    help: 'Lookups in the in-process caches (session, bearer_token) by result (hit, miss).',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
    collect() {
      for (const [cache, stats] of Object.entries(caches)) {
        const now = stats();
        if (now === null) continue;
        for (const [result, value] of [['hit', now.hits], ['miss', now.misses]] as const) {
          const key = `${cache} ${result}`;
          const before = seen.get(key) ?? 0;
          // A cache started again counts from 0: its whole count is new.
          this.inc({ cache, result }, value >= before ? value - before : value);
          seen.set(key, value);
        }
      }
    },
  });
  new Gauge({
    name: 'oidc_connect_cache_entries',
    help: 'Entries held now by the in-process caches (session, bearer_token).',
    labelNames: ['cache'] as const,
    registers: [registry],
    collect() {
      for (const [cache, stats] of Object.entries(caches)) {
        const now = stats();
        if (now !== null) this.set({ cache }, now.size);
      }
    },
  });

  const feed = changeFeedOf(db);
  if (feed) {
    new Gauge({
      name: 'oidc_connect_change_feed_live',
      help: '1 while every change made by other instances reaches this one (the caches may serve), else 0.',
      registers: [registry],
      collect() {
        this.set(feed.isLive ? 1 : 0);
      },
    });
    new Gauge({
      name: 'oidc_connect_change_feed_lag_seconds',
      help: 'How long the oldest own change announcement has waited to be heard back (PostgreSQL LISTEN/NOTIFY); 0 when none waits.',
      registers: [registry],
      collect() {
        this.set(feed.lagSeconds());
      },
    });
    let echoes = { count: 0, seconds: 0 };
    new Counter({
      name: 'oidc_connect_change_feed_echoes_total',
      help: 'Own change announcements heard back through the listener (PostgreSQL).',
      registers: [registry],
      collect() {
        this.inc(feed.echoes.count - echoes.count);
      },
    });
    new Counter({
      name: 'oidc_connect_change_feed_echo_seconds_total',
      help: 'Seconds the own announcements took to be heard back, in all: divided by the echoes, the mean lag.',
      registers: [registry],
      collect() {
        const now = feed.echoes;
        this.inc(now.seconds - echoes.seconds);
        echoes = now;
      },
    });
  }

  // Read from the database at each scrape; a database that does not answer leaves the last value.
  const fromDatabase = (read: () => Promise<number>, name: string) => async function collect(this: Gauge) {
    try {
      this.set(await read());
    } catch (error) {
      log.warn({ err: error, metric: name }, 'metrics: reading the database failed');
    }
  };
  new Gauge({
    name: 'oidc_connect_mail_outbox_pending',
    help: 'Mails waiting in the outbox to be sent (or tried again).',
    registers: [registry],
    collect: fromDatabase(() => outboxDepth(db), 'oidc_connect_mail_outbox_pending'),
  });
  new Gauge({
    name: 'oidc_connect_accounts_locked',
    help: 'Usernames (and second-factor keys) locked now after too many failed attempts.',
    registers: [registry],
    collect: fromDatabase(() => lockedCount(db, config.lockout), 'oidc_connect_accounts_locked'),
  });
  const hashing = hashingCapacityOf(config);
  new Gauge({
    name: 'oidc_connect_password_hashes',
    help: 'Password hashes of this process now, by state: running, or waiting for one of PASSWORD_HASH_CONCURRENCY slots.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'running' }, hashing.running);
      this.set({ state: 'waiting' }, hashing.waiting);
    },
  });

  const tokenHashes = settings.tokenHash === null ? [] : [settings.tokenHash];
  const authorized = (authorization: string | undefined) => tokenHashes.length === 0 || carriesToken(authorization, tokenHashes);
  let server: Server | null = null;
  if (settings.port !== null) {
    server = createServer((request, response) => void scrape(request, response));
    const scrape = async (request: IncomingMessage, response: ServerResponse) => {
      if (request.url?.split('?')[0] !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: the metrics are at /metrics\n');
        return;
      }
      if (!authorized(request.headers.authorization)) {
        response.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="metrics"' })
          .end('Send the bearer token from METRICS_TOKEN.\n');
        return;
      }
      const text = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text);
    };
    const listening = server;
    try {
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(settings.port!, config.host, () => {
          listening.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      unsubscribe(PROVIDER_CALLS, onProviderCall);
      throw error;
    }
  }

  return {
    registry,
    signIn(event) {
      if (event.type !== 'login_success' && event.type !== 'login_failure') return;
      const method = signInMethod(event.method);
      const provider = method === 'provider' && config.providers.some((p) => p.id === event.method) ? event.method! : '';
      const code = event.errorCode ?? '';
      const outcome = event.type === 'login_success' ? 'success' : knownCodes.has(code) ? code : 'INTERNAL';
      signIns.inc({ method, provider, outcome });
    },
    page(route, method, status, seconds) {
      pages.observe({ route: route ?? 'unmatched', method: METHODS.has(method) ? method : 'OTHER', status_class: `${Math.floor(status / 100)}xx` }, seconds);
    },
    watchBearerCache(stats) {
      bearerStats = stats;
    },
    authorized,
    get address() {
      return (server?.address() as AddressInfo | null | undefined) ?? null;
    },
    async close() {
      unsubscribe(PROVIDER_CALLS, onProviderCall);
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
