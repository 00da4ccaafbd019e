/**
 * Every request to a provider (discovery, token, userinfo, JWKS, introspection) goes through one
 * keep-alive connection pool, so a login costs no TCP or TLS handshake. `providerFetch` has the
 * fetch signature openid-client takes as its `customFetch`, but sends with undici's dispatch API and
 * answers with a plain Response of the bytes read: undici's fetch with the same pool cost about 330 µs
 * of CPU per call against 95 (Request objects, web streams, spec checks; a loop against a local server).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';

/**
 * One pool per process, like Node's own global dispatcher. Idle connections are kept 30 s (less
 * when the provider's Keep-Alive header asks for less). NODE_USE_ENV_PROXY=1 honours
 * HTTP(S)_PROXY and NO_PROXY, as it does for Node's global fetch.
 */
const pool: Dispatcher = process.env['NODE_USE_ENV_PROXY'] === '1'
  ? new EnvHttpProxyAgent({ keepAliveTimeout: 30_000 })
  : new Agent({ keepAliveTimeout: 30_000 });

/** What openid-client and our own callers pass (openid-client's CustomFetchOptions, loosened). */
export interface ProviderRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams | Uint8Array | ArrayBuffer | ReadableStream | null;
  signal?: AbortSignal | null;
  redirect?: 'manual';
  /**
   * The whole request, answer included, must be done within this long, else it fails with a
   * TimeoutError, as with `AbortSignal.timeout`. Cheaper than one: the timer is cleared when the
   * answer is in, where AbortSignal.timeout's fires later all the same (a DOMException and an abort
   * event per request, a tenth of a millisecond per login here), and undici needs no signal listener.
   */
  timeoutMs?: number;
}

/**
 * The largest answer read from a provider. Its documents (metadata, keys, tokens, userinfo) are a few
 * KB; a provider that streams without end must not fill the app's memory.
 */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** Statuses whose answer has no body (a Response refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A provider request through the pool, answered as a fetch Response whose body is the answer read
 * whole (up to MAX_ANSWER_BYTES), so a provider that streams without end is cut off here and not
 * wherever its reader happens to read. Redirects are not followed
 * (openid-client asks for `redirect: 'manual'`), and no Accept-Encoding is sent, so answers come
 * uncompressed. Sent with undici's dispatch API and the answer gathered in a buffer: its request API
 * wraps every answer in a Node stream, which cost a third of a provider call's CPU here.
 */
export async function providerFetch(url: string | URL, request: ProviderRequest = {}): Promise<Response> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { signal, timeoutMs } = request;
  const body = requestBody(request.body);
  signal?.throwIfAborted();
  const answer = await new Promise<{ status: number; statusText: string; headers: IncomingHttpHeaders; body: Uint8Array }>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let stopped: Error | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let status = 0;
    let statusText = '';
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve({ status, statusText, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
    };
    /** Stops the request (its answer then reports the reason), or rejects at once if it has not gone out yet. */
    const stop = (reason: Error) => {
      if (stopped) return;
      stopped = reason;
      if (controller) controller.abort(reason);
      else settle(reason);
    };
    const onAbort = () => stop(signal!.reason instanceof Error ? signal!.reason : new DOMException('This operation was aborted', 'AbortError'));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => stop(new DOMException('The provider did not answer in time.', 'TimeoutError')), timeoutMs);
    }
    try {
      pool.dispatch({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: (request.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: request.headers ?? {},
        body,
      }, {
        onRequestStart(started) {
          controller = started;
          if (stopped) started.abort(stopped);
        },
        onResponseStart(_controller, statusCode, answerHeaders, statusMessage) {
          status = statusCode;
          statusText = statusMessage ?? '';
          headers = answerHeaders;
        },
        onResponseData(_controller, chunk) {
          received += chunk.length;
          if (received > MAX_ANSWER_BYTES) stop(new RangeError(`the answer from ${target.origin} is larger than ${MAX_ANSWER_BYTES / 1024} KiB`));
          else chunks.push(chunk);
        },
        onResponseEnd() {
          settle(stopped);
        },
        onResponseError(_controller, error) {
          settle(stopped ?? error);
        },
      });
    } catch (error) {
      settle(error as Error);
    }
  });
  const answerHeaders = new Headers();
  for (const name in answer.headers) {
    const value = answer.headers[name];
    if (Array.isArray(value)) for (const each of value) answerHeaders.append(name, each);
    else if (value !== undefined) answerHeaders.set(name, value);
  }
  const response = new Response(NULL_BODY.has(answer.status) ? null : answer.body as Uint8Array<ArrayBuffer>, { status: answer.status, statusText: answer.statusText, headers: answerHeaders });
  // As fetch's answers do, it names the URL that answered: error messages show it (src/errors.ts: causeMessages).
  Object.defineProperty(response, 'url', { value: target.href });
  return response;
}

function requestBody(body: ProviderRequest['body']): string | Uint8Array | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('providerFetch: a streamed request body is not supported');
}
