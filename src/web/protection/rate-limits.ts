import fastifyRateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OidcConnectError } from '../../errors.ts';

/**
 * Registers @fastify/rate-limit in `scope` with no limit of its own: only the routes whose config
 * carries `rateLimit: perAddress(…)` are limited.
 */
export async function rateLimits(scope: FastifyInstance): Promise<void> {
  await scope.register(fastifyRateLimit, { global: false });
}

/**
 * The client's address as the per-address limits count it, the same way @fastify/rate-limit does:
 * request.ip (TRUST_PROXY decides whether X-Forwarded-For counts), an IPv4-mapped IPv6 address as
 * IPv4, and IPv6 by its /64, which one subscriber usually holds whole.
 */
export const clientAddress = (request: FastifyRequest): string => {
  const ip = request.ip;
  // Without a colon it is no IPv6 address: normalizeIP would only lowercase it, after testing it
  // with node's IPv6 regular expression, which cost some 25 µs at every login start here.
  return ip.includes(':') ? normalizeIP(ip) : ip.toLowerCase();
};

/**
 * At most `perMinute` requests to one route per client address in a fixed one-minute window (or
 * `max` in a window of `windowMs`); past it 429 RATE_LIMITED with Retry-After, checked in onRequest,
 * before the body is read or a password hashed. The address is request.ip (so TRUST_PROXY decides whether X-Forwarded-For counts), IPv6
 * by its /64. The counters live in each process (an LRU of 5,000 addresses): n instances let n times
 * as many through. What bounds guesses at one account across instances is the lockout in the database.
 */
export function perAddress(perMinute: number, onExceeded?: (request: FastifyRequest) => void, windowMs = 60_000): RateLimitOptions {
  return {
    max: perMinute,
    timeWindow: windowMs,
    errorResponseBuilder: (_request, context) => new OidcConnectError('RATE_LIMITED',
      `Too many attempts from your network. Please try again in ${context.after}.`,
      { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) }),
    ...(onExceeded ? { onExceeded } : {}),
  };
}
