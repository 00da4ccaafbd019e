/**
 * One dedicated PostgreSQL connection per instance that LISTENs on a channel (pooled connections
 * can't: a LISTEN lives as long as its session). When the connection drops it says so at once and
 * tries again, one second later at first and then doubling up to 30 s, for as long as it runs.
 */
import type pg from 'pg';

export interface ListenerEvents {
  /** LISTEN is in place: from now on every notification on the channel arrives. */
  up(): void;
  /** The connection is gone: notifications may be missed until the next `up()`. */
  down(error: Error | undefined): void;
  message(payload: string): void;
}

export interface Listener {
  stop(): Promise<void>;
}

/** How operators (and the tests) find an instance's listening connection in pg_stat_activity. */
export const listenerApplicationName = (pid = process.pid) => `oidc-connect listener ${pid}`;

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

/** `Client` is pg's, passed in: pg is loaded by whoever opened the database. */
export function listen(Client: typeof pg.Client, url: string, channel: string, events: ListenerEvents): Listener {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = FIRST_RETRY_MS;

  const connect = async () => {
    const current = new Client({ connectionString: url, application_name: listenerApplicationName(), keepAlive: true, connectionTimeoutMillis: 5000 });
    client = current;
    let lost = false;
    const drop = (error?: Error) => {
      if (lost) return;
      lost = true;
      events.down(error);
      current.end().catch(() => {});
      if (!stopped) {
        retry = setTimeout(connect, delay).unref();
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    };
    current.on('error', drop);
    current.on('end', () => drop());
    current.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) events.message(message.payload);
    });
    try {
      await current.connect();
      await current.query(`LISTEN ${current.escapeIdentifier(channel)}`);
    } catch (error) {
      drop(error as Error);
      return;
    }
    if (stopped || lost) return;
    delay = FIRST_RETRY_MS;
    events.up();
  };

  void connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
