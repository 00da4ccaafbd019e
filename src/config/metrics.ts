/**
 * METRICS, METRICS_TOKEN and METRICS_PORT: Prometheus metrics (src/web/metrics.ts), off by default.
 * On, they are served at /metrics on the app's port behind a bearer token, or on a port of their own
 * (on HOST, like the app), or both. Production never serves them open on the app's port.
 */
import { sha256Base64url } from '../digest.ts';
import type { Env } from './env.ts';
import { bearerSecretProblem, boolean, integer, Problems, text } from './parse.ts';
import type { MetricsConfig } from './types.ts';

export function parseMetrics(env: Env, problems: Problems, options: { production: boolean; appPort: number }): MetricsConfig | null {
  const on = boolean(env, problems, 'METRICS', false);
  const token = text(env, 'METRICS_TOKEN');
  const port = text(env, 'METRICS_PORT') === undefined ? null : integer(env, problems, 'METRICS_PORT', 0, 0, 65535);
  if (!on) {
    if (token !== undefined) problems.add('METRICS_TOKEN', undefined, 'is set but METRICS is off; set METRICS=on to serve /metrics, or remove METRICS_TOKEN');
    if (port !== null) problems.add('METRICS_PORT', String(port), 'is set but METRICS is off; set METRICS=on to serve /metrics there, or remove METRICS_PORT');
    return null;
  }
  let tokenHash: string | null = null;
  if (token !== undefined) {
    // A long random secret, as SCIM's; only its digest is kept, and compared in constant time.
    const problem = bearerSecretProblem(token);
    if (problem === undefined) tokenHash = sha256Base64url(token);
    else problems.add('METRICS_TOKEN', undefined, problem);
  }
  if (port !== null && port !== 0 && port === options.appPort) {
    problems.add('METRICS_PORT', String(port), 'is the app\'s own PORT; give the metrics a port of their own, or leave METRICS_PORT out to serve /metrics on the app\'s port behind METRICS_TOKEN');
  }
  if (options.production && token === undefined && port === null) {
    problems.add('METRICS', 'on', 'would serve /metrics to anyone on the app\'s public port when NODE_ENV=production; set METRICS_TOKEN (a bearer token Prometheus sends; generate one with: openssl rand -base64 32), or METRICS_PORT (a port of their own, kept off the public network)');
  }
  return { tokenHash, port };
}
