import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config/index.ts';
import { requestLogging } from './logging.ts';

/**
 * Fastify 5 trusts no hop for a bare number (it can't check the peer), so a hop count becomes what
 * it means in Express: trust the nearest N addresses, the connecting peer first.
 */
function trustProxy(setting: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

/** The server settings of the standalone app, and of the Express adapter's inner instance. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    trustProxy: trustProxy(config.trustProxy),
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    // Long enough for slow clients, short enough that a dead one can't hold a socket.
    requestTimeout: 30_000,
    genReqId: () => crypto.randomUUID(),
    // One access-log line per request, and no per-request logger unless the request logs a line itself.
    ...requestLogging(),
  };
}
