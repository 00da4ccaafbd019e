import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase()) || /^127(\.\d{1,3}){3}$/.test(host);
}

function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Keep-alive connections from browsers and fetch would otherwise hold close() open.
    server.closeAllConnections();
  });
}

/**
 * Listens on loopback only. For `localhost` it binds 127.0.0.1 and, where there is IPv6, ::1 on
 * the same port: the issuer says `localhost`, and clients resolve that to either address.
 */
export async function listenLoopback(handler: RequestListener, host: string, port: number): Promise<Listening> {
  const servers: Server[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(servers.map(closeServer));
  };

  const primary = createServer(handler);
  servers.push(primary);
  const dualStack = host.toLowerCase() === 'localhost';
  const boundPort = await listenOn(primary, dualStack ? '127.0.0.1' : host.replace(/^\[(.*)\]$/, '$1'), port);

  if (dualStack) {
    const secondary = createServer(handler);
    try {
      await listenOn(secondary, '::1', boundPort);
      servers.push(secondary);
    } catch {
      // No IPv6 loopback (or its port is taken): 127.0.0.1 alone still serves `localhost`.
    }
  }
  return { port: boundPort, close };
}
