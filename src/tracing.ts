/**
 * OpenTelemetry spans, through @opentelemetry/api alone. Without a tracer provider registered by the
 * host (an SDK of its choice), the API hands out non-recording spans and these cost a small object
 * each; with one, spans go wherever the host exports them. A leaf: every layer may trace.
 *
 * Attributes never carry secrets, parameters or user data: names of steps, statement kinds, our
 * stable error codes (`oidc_connect.error_code`), HTTP methods and status codes.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/** The attribute that carries our stable error code (src/errors.ts) on a span that failed. */
export const ERROR_CODE_ATTRIBUTE = 'oidc_connect.error_code';

export const tracer = trace.getTracer('oidc-connect');

export { SpanKind };

/**
 * Runs `work` in a new span, made the active one so that spans started inside it are its children
 * (when the host's SDK has a context manager). A failure sets the span's status to error, records
 * the exception, and `codeOf(error)` as `oidc_connect.error_code`; the error is rethrown unchanged.
 *
 * @example
 * await inSpan('oidc_connect.password.verify', { attributes: { 'oidc_connect.password.scheme': 'scrypt' } }, () => check());
 */
export function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; codeOf?: (error: unknown) => string | undefined },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      spanFailed(span, error, options.codeOf?.(error));
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span as failed: status error with the error's message, the exception event, and our code when known. */
export function spanFailed(span: Span, error: unknown, code?: string): void {
  if (!span.isRecording()) return;
  if (code !== undefined) span.setAttribute(ERROR_CODE_ATTRIBUTE, code);
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? error.name });
  } else {
    span.setStatus({ code: SpanStatusCode.ERROR, ...(code === undefined ? {} : { message: code }) });
  }
}
