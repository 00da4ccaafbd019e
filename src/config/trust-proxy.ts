import { isIP } from 'node:net';
import type { Problems } from './parse.ts';

/** proxy-addr's names for address ranges, which Fastify's trustProxy list accepts. */
const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY: unset or false (X-Forwarded-* ignored), true (every hop trusted: a client can put
 * any address in X-Forwarded-For), a hop count (the nearest N hops; see web/server-options.ts), or the
 * proxies' addresses, which alone also keep a client that reaches the app directly from forging.
 */
export function parseTrustProxy(raw: string | undefined, problems: Problems): boolean | number | string {
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  if (raw.split(',').every((entry) => isProxyAddress(entry.trim()))) return raw;
  problems.add('TRUST_PROXY', raw, 'must be true, the number of proxies in front of the app, or their addresses (IPs or CIDRs, comma-separated; loopback, linklocal and uniquelocal name ranges)');
  return false;
}

/** An IP, a CIDR (10.0.0.0/8, fd00::/8), an IPv4 address with a netmask, or a range name. */
function isProxyAddress(entry: string): boolean {
  if (RANGE_NAMES.has(entry)) return true;
  const [address = '', mask, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (mask === undefined) return true;
  if (version === 4 && isIP(mask) === 4) return true;
  return /^\d{1,3}$/.test(mask) && Number(mask) <= (version === 4 ? 32 : 128);
}
