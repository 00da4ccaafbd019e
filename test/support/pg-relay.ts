/**
 * A TCP relay in front of PostgreSQL, on 127.0.0.1, for tests of a network path that goes silent. It
 * forwards every connection both ways until told to black-hole the instances' listening connections
 * (application_name "oidc-connect listener …", read from each connection's startup message): from then
 * on it forwards nothing on them, either way, and closes nothing, so no FIN and no RST reach either
 * end, as when a NAT or load balancer forgets a connection. Pooled connections keep working.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listenerApplicationName } from '../../src/db/pg-listener.ts';

/** "oidc-connect listener ": the name without its pid. */
const LISTENER = listenerApplicationName(0).slice(0, -1);

interface Relayed {
  client: Socket;
  upstream: Socket | undefined;
  listener: boolean | undefined;
  silent: boolean;
}

export class PgRelay {
  readonly #server: Server;
  readonly #relayed = new Set<Relayed>();
  #blackHole = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts a relay to the server of `databaseUrl` (a postgres:// URL). */
  static async start(databaseUrl: string): Promise<PgRelay> {
    const target = new URL(databaseUrl);
    let relay: PgRelay | undefined;
    const server = createServer((client) => relay!.#accept(client, target.hostname, Number(target.port || 5432)));
    relay = new PgRelay(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  /** `databaseUrl` with its host and port replaced by the relay's. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String((this.#server.address() as { port: number }).port);
    return url.href;
  }

  /** Listening connections, those open and those to come, go silent. */
  blackHoleListeners(): void {
    this.#blackHole = true;
    for (const relayed of this.#relayed) if (relayed.listener) relayed.silent = true;
  }

  /** New connections are forwarded again; those already silent stay so. */
  heal(): void {
    this.#blackHole = false;
  }

  /** Listening connections forwarded now (not silent). */
  get liveListeners(): number {
    return [...this.#relayed].filter((r) => r.listener && !r.silent).length;
  }

  async close(): Promise<void> {
    for (const relayed of this.#relayed) {
      relayed.client.destroy();
      relayed.upstream?.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, host: string, port: number): void {
    const relayed: Relayed = { client, upstream: undefined, listener: undefined, silent: false };
    this.#relayed.add(relayed);
    let head = Buffer.alloc(0);
    const forget = () => {
      relayed.upstream?.destroy();
      client.destroy();
      this.#relayed.delete(relayed);
    };
    client.on('error', () => {});
    client.on('close', () => { if (!relayed.silent) forget(); });
    client.on('data', (data: Buffer) => {
      if (relayed.listener === undefined) {
        head = Buffer.concat([head, data]);
        const length = head.length >= 4 ? head.readInt32BE(0) : Infinity;
        if (head.length < length) return;
        relayed.listener = applicationName(head.subarray(0, length))?.startsWith(LISTENER) ?? false;
        relayed.silent = relayed.listener && this.#blackHole;
        if (relayed.silent) return;
        const upstream = connect(port, host);
        relayed.upstream = upstream;
        upstream.on('error', () => {});
        upstream.on('close', () => { if (!relayed.silent) forget(); });
        upstream.on('data', (answer: Buffer) => { if (!relayed.silent) client.write(answer); });
        upstream.write(head);
        return;
      }
      if (!relayed.silent) relayed.upstream?.write(data);
    });
  }
}

/** application_name from a StartupMessage (length, protocol 3.0, then name\0value\0 pairs); undefined for another first message (SSLRequest). */
function applicationName(message: Buffer): string | undefined {
  if (message.length < 8 || message.readInt32BE(4) !== 196608) return undefined;
  const fields = message.subarray(8).toString('utf8').split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'application_name') return fields[i + 1];
  return undefined;
}
