import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Config } from '../config/index.ts';
import { causeMessages } from '../errors.ts';

/** Query parameters that carry credentials; logged as `[redacted]`. */
const SECRET_PARAMS = /([?&](?:code|state|id_token_hint|logout_token|token|access_token|refresh_token|session_state|_csrf)=)[^&#]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Structured JSON logs (pino, through Fastify) with a request id on every line. Requests are
 * logged without cookies, Authorization headers or credential-bearing query parameters.
 */
export function loggerOptions(config: Config): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
        userAgent: request.headers['user-agent'],
      }),
    },
  };
}

/**
 * An error's messages down its cause chain (src/errors.ts: causeMessages), without the objects
 * hanging off it: provider errors carry response bodies and token claims that don't belong in logs.
 */
export function errorReason(error: unknown): string {
  return causeMessages(error, 5).map(redactUrl).join(' <- ');
}
