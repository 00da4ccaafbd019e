import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
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

/** The levels a lazy request logger writes at; a parent with levels of its own gets pino's child instead. */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type Level = (typeof LEVELS)[number];
const PINO_LEVELS = new Set<string>([...LEVELS, 'silent']);

/** The pino logger the server's logger is, as far as a request's logger delegates to it. */
type PinoLogger = Logger;

/** EventEmitter's methods (pino's 'level-change' event): they act on the request's own child. */
const EMITTER_METHODS = [
  'on', 'addListener', 'once', 'prependListener', 'prependOnceListener', 'off', 'removeListener', 'removeAllListeners',
  'emit', 'listeners', 'rawListeners', 'listenerCount', 'eventNames', 'setMaxListeners', 'getMaxListeners',
] as const;

/**
 * Lines a request logs itself (`request.log`) carry its reqId, through a child logger that pino
 * makes only when it is needed: most requests write no line of their own, and making a child for
 * each was a measurable part of a page's CPU. What only reads (the level, isLevelEnabled, msgPrefix,
 * flush) is answered by the server's logger while there is no child; whatever a child owns
 * (bindings, setBindings, a level set for this request, child(), event listeners) makes it, so every
 * member of pino's Logger answers as pino's own child would. A custom level falls back to a child at
 * once (see requestLogging).
 */
class RequestLogger {
  readonly #parent: PinoLogger;
  readonly #bindings: Bindings;
  #child: PinoLogger | undefined;

  constructor(parent: PinoLogger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  get levelVal(): number {
    return (this.#child ?? this.#parent).levelVal;
  }

  get levels(): PinoLogger['levels'] {
    return (this.#child ?? this.#parent).levels;
  }

  get version(): string {
    return this.#parent.version;
  }

  get msgPrefix(): string | undefined {
    return (this.#child ?? this.#parent).msgPrefix;
  }

  get onChild(): PinoLogger['onChild'] {
    return (this.#child ?? this.#parent).onChild;
  }

  set onChild(onChild: PinoLogger['onChild']) {
    this.#real().onChild = onChild;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.#parent).isLevelEnabled(level);
  }

  bindings(): Bindings {
    return this.#real().bindings();
  }

  setBindings(bindings: Bindings): void {
    this.#real().setBindings(bindings);
  }

  flush(callback?: (error?: Error) => void): void {
    (this.#child ?? this.#parent).flush(callback);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): PinoLogger {
    return this.#real().child(bindings, options);
  }

  silent(): void {}

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

  #write(level: Level, args: unknown[]): void {
    if (this.#child === undefined && !this.#parent.isLevelEnabled(level)) return;
    (this.#real()[level] as (...line: unknown[]) => void)(...args);
  }

  #real(): PinoLogger {
    return (this.#child ??= this.#parent.child(this.#bindings));
  }

  static {
    for (const method of EMITTER_METHODS) {
      Object.defineProperty(RequestLogger.prototype, method, {
        value(this: RequestLogger, ...args: unknown[]) {
          const real = this.#real();
          const result = (real[method] as (...a: unknown[]) => unknown).apply(real, args);
          return result === real ? this : result; // chaining returns this logger, as pino's does
        },
        writable: true,
        configurable: true,
      });
    }
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
      if (Object.keys(options).length > 0 || !isPlainPino(logger)) return logger.child(bindings, options);
      return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger;
    },
  };
}

/** A pino logger with pino's levels only: what RequestLogger stands in for. Another logger (or custom levels) gets its own child. */
function isPlainPino(logger: FastifyBaseLogger): logger is FastifyBaseLogger & PinoLogger {
  const levels = (logger as Partial<PinoLogger>).levels?.values;
  return typeof (logger as Partial<PinoLogger>).isLevelEnabled === 'function' && levels !== undefined
    && Object.keys(levels).every((level) => PINO_LEVELS.has(level));
}
