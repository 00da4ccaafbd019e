/**
 * One dedicated PostgreSQL connection per instance that LISTENs on a channel (pooled connections
 * can't: a LISTEN lives as long as its session). When the connection drops it says so at once and
 * tries again, one second later at first and then doubling up to 30 s, for as long as it runs.
 *
 * A connection can also go silent without dropping: no FIN and no RST reach us when a NAT or load
 * balancer forgets it, in a failover, or while a VM is paused, and TCP would notice only after some
 * two hours. So it is watched: a query every HEARTBEAT_MS must be answered within
 * HEARTBEAT_TIMEOUT_MS, or it counts as dropped. Going silent is thus noticed within
 * HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS (3 s).
 */
import { Socket } from 'node:net';
import type pg from 'pg';

export interface ListenerEvents {
  /** LISTEN is in place: from now on every notification on the channel arrives. */
  up(): void;
  /** The connection is gone: notifications may be missed until the next `up()`. */
  down(error: Error | undefined): void;
  message(payload: string): void;
}

export interface Listener {
  /**
   * Asks the connection to answer a query now (or joins the heartbeat in flight): true once it has,
   * false when it is down, or was dropped for not answering in time.
   */
  check(): Promise<boolean>;
  stop(): Promise<void>;
}

/** How operators (and the tests) find an instance's listening connection in pg_stat_activity. */
export const listenerApplicationName = (pid = process.pid) => `oidc-connect listener ${pid}`;

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
export const HEARTBEAT_MS = 1000;
export const HEARTBEAT_TIMEOUT_MS = 2000;
/**
 * The server's end of the connection: TCP keepalive after 5 s idle, then every second, 5 probes; and
 * data it sent (a notification) unacknowledged for 5 s ends the connection (tcp_user_timeout, from
 * PostgreSQL 12; older servers skip it). So the server drops a vanished instance's listener within
 * about 10 s, and that listener stops holding back the server's notification queue. Set through
 * pg_settings, which names only the settings this server has, and per session: no startup option
 * that a connection pooler might refuse.
 */
const SERVER_TIMEOUTS = `select set_config(s.name, s.value, false)
  from (values ('tcp_keepalives_idle', '5'), ('tcp_keepalives_interval', '1'), ('tcp_keepalives_count', '5'), ('tcp_user_timeout', '5000')) as s(name, value)
  join pg_settings p on p.name = s.name`;
/** This end's TCP keepalive starts after 5 s idle (the heartbeat keeps it busy while all is well). */
const KEEPALIVE_DELAY_MS = 5000;
/** stop() says goodbye to the server, but waits no longer than this for a silent one. */
const STOP_WAIT_MS = 1000;

/** `Client` is pg's, passed in: pg is loaded by whoever opened the database. */
export function listen(Client: typeof pg.Client, url: string, channel: string, events: ListenerEvents): Listener {
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = FIRST_RETRY_MS;
  /** The connection while it is up, with its heartbeat. */
  let live: { client: pg.Client; check(): Promise<boolean>; heartbeat: NodeJS.Timeout } | undefined;
  let client: pg.Client | undefined;
  /** The current connection's socket, ours (pg's `stream` option), so that a silent one can be destroyed. */
  let socket: Socket | undefined;

  const connect = async () => {
    const current = new Client({
      connectionString: url, application_name: listenerApplicationName(), connectionTimeoutMillis: 5000,
      keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS, stream: () => (socket = new Socket()),
    });
    const own = socket;
    client = current;
    let lost = false;
    let heartbeat: NodeJS.Timeout | undefined;
    let beat: Promise<boolean> | undefined;
    const drop = (error?: Error) => {
      if (lost) return;
      lost = true;
      clearInterval(heartbeat);
      if (live?.client === current) live = undefined;
      events.down(error);
      // No goodbye: the peer may be silent, and a graceful end would wait on it for ever.
      own?.destroy();
      if (!stopped) {
        retry = setTimeout(connect, delay).unref();
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    };
    const check = (): Promise<boolean> => {
      if (lost) return Promise.resolve(false);
      beat ??= new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          drop(new Error(`the listening connection did not answer within ${HEARTBEAT_TIMEOUT_MS} ms`));
          resolve(false);
        }, HEARTBEAT_TIMEOUT_MS).unref();
        current.query('select 1').then(() => resolve(!lost), (error: Error) => {
          drop(error);
          resolve(false);
        }).finally(() => clearTimeout(timer));
      }).finally(() => { beat = undefined; });
      return beat;
    };
    current.on('error', drop);
    current.on('end', () => drop());
    current.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) events.message(message.payload);
    });
    try {
      await current.connect();
      await current.query(SERVER_TIMEOUTS);
      await current.query(`LISTEN ${current.escapeIdentifier(channel)}`);
    } catch (error) {
      drop(error as Error);
      return;
    }
    if (stopped || lost) return;
    delay = FIRST_RETRY_MS;
    heartbeat = setInterval(() => void check(), HEARTBEAT_MS).unref();
    live = { client: current, check, heartbeat };
    events.up();
  };

  void connect();
  return {
    check: () => live?.check() ?? Promise.resolve(false),
    async stop() {
      stopped = true;
      clearTimeout(retry);
      clearInterval(live?.heartbeat);
      const last = socket;
      const timer = setTimeout(() => last?.destroy(), STOP_WAIT_MS).unref();
      await client?.end().catch(() => {});
      clearTimeout(timer);
    },
  };
}
