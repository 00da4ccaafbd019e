import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
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

/**
 * The access log: one line per request, `request completed`, with its reqId, method, redacted URL,
 * status and response time, written when the answer has gone, through the server's own logger, so no
 * per-request logger is made for it. Fastify's own pair of lines (incoming, completed) is left out.
 */
class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const log = request.server.log as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
    const line = { reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) log.error({ ...line, err: error }, 'request errored');
    else if (log.isLevelEnabled?.('info') ?? true) log.info(line, 'request completed');
  }
}

/**
 * Lines a request logs itself (`request.log`) carry its reqId, through a child logger that pino
 * makes only when such a line is written: most requests write none, and making a child for each
 * was a measurable part of a page's CPU.
 */
class RequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger & { isLevelEnabled(level: string): boolean };
  readonly #bindings: Bindings;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger & { isLevelEnabled(level: string): boolean }, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.#write('error', args);
  }

  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }

  info(...args: unknown[]): void {
    this.#write('info', args);
  }

  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }

  #write(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]): void {
    if (this.#child === undefined && !this.#parent.isLevelEnabled(level)) return;
    (this.#real()[level] as (...line: unknown[]) => void)(...args);
  }

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings));
  }
}

/**
 * The server options for the access log above and the requests' lazy loggers. A route with a log
 * level or serializers of its own gets a pino child at once, as Fastify would make.
 */
export function requestLogging(): Pick<FastifyServerOptions, 'logController' | 'childLoggerFactory'> {
  return {
    logController: new AccessLog(),
    childLoggerFactory: (logger, bindings, options) => {
      const parent = logger as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
      if (typeof parent.isLevelEnabled !== 'function' || Object.keys(options).length > 0) return logger.child(bindings, options);
      return new RequestLogger(parent as FastifyBaseLogger & { isLevelEnabled(level: string): boolean }, bindings);
    },
  };
}

