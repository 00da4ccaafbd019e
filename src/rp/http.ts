/**
 * Every request to a provider (discovery, token, userinfo, JWKS, introspection) goes through one
 * keep-alive connection pool, so a login costs no TCP or TLS handshake. `providerFetch` has the
 * fetch signature openid-client takes as its `customFetch`, but sends with undici's dispatch API and
 * answers with a plain Response of the bytes read: undici's fetch with the same pool cost about 330 µs
 * of CPU per call against 95 (Request objects, web streams, spec checks; a loop against a local server).
 */
import { channel } from 'node:diagnostics_channel';
import type { IncomingHttpHeaders } from 'node:http';
import { SpanStatusCode } from '@opentelemetry/api';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { SpanKind, spanFailed, tracer } from '../tracing.ts';

/**
 * One pool per process, like Node's own global dispatcher. Idle connections are kept 30 s (less
 * when the provider's Keep-Alive header asks for less). NODE_USE_ENV_PROXY=1 honours
 * HTTP(S)_PROXY and NO_PROXY, as it does for Node's global fetch.
 */
const pool: Dispatcher = process.env['NODE_USE_ENV_PROXY'] === '1'
  ? new EnvHttpProxyAgent({ keepAliveTimeout: 30_000 })
  : new Agent({ keepAliveTimeout: 30_000 });

/** Which of a provider's endpoints a request goes to: a span's name, a metric's label. */
export type ProviderEndpoint = 'discovery' | 'jwks' | 'token' | 'userinfo' | 'par' | 'introspection' | 'revocation' | 'other';

/** The endpoints of a discovery document, by the metadata field that names each. */
const ENDPOINT_FIELDS: readonly (readonly [string, ProviderEndpoint])[] = [
  ['token_endpoint', 'token'],
  ['userinfo_endpoint', 'userinfo'],
  ['jwks_uri', 'jwks'],
  ['pushed_authorization_request_endpoint', 'par'],
  ['introspection_endpoint', 'introspection'],
  ['revocation_endpoint', 'revocation'],
];

/**
 * The endpoint a URL is, by the provider's discovery document; a discovery URL by its well-known path.
 *
 * @example
 * endpointOf({ token_endpoint: 'https://example.okta.com/oauth2/default/v1/token' }, 'https://example.okta.com/oauth2/default/v1/token'); // 'token'
 */
export function endpointOf(metadata: Readonly<Record<string, unknown>> | undefined, url: string | URL): ProviderEndpoint {
  const href = typeof url === 'string' ? url : url.href;
  for (const [field, endpoint] of ENDPOINT_FIELDS) if (metadata?.[field] === href) return endpoint;
  return href.includes('/.well-known/') ? 'discovery' : 'other';
}

/**
 * Every provider request is published here, once it has an answer or failed, while anyone subscribes
 * (the metrics of src/web/metrics.ts do): `{ issuer, endpoint, status (0: no answer), seconds }`.
 */
export const PROVIDER_CALLS = 'oidc-connect:provider-call';
const providerCalls = channel(PROVIDER_CALLS);

/** A message of PROVIDER_CALLS. */
export interface ProviderCall {
  /** The issuer of the provider the request was for; '' when the caller did not say. */
  readonly issuer: string;
  readonly endpoint: ProviderEndpoint;
  /** The answer's HTTP status, or 0 when there was none (network error, timeout, too large). */
  readonly status: number;
  readonly seconds: number;
}

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
  /** Whose endpoint this is, for the span and the metrics. Default: an `other` endpoint of no known provider. */
  call?: { issuer: string; endpoint: ProviderEndpoint };
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
  const endpoint = request.call?.endpoint ?? 'other';
  const method = request.method ?? 'GET';
  // OpenTelemetry's HTTP client conventions; the URL without its query, which may carry a token.
  const span = tracer.startSpan(`${method} ${endpoint}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': method, 'server.address': target.hostname, 'url.full': `${target.origin}${target.pathname}`,
      'oidc_connect.provider.endpoint': endpoint,
    },
  });
  const started = performance.now();
  let status = 0;
  try {
    const response = await send(target, request);
    status = response.status;
    span.setAttribute('http.response.status_code', status);
    if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: String(status) });
    return response;
  } catch (error) {
    spanFailed(span, error);
    throw error;
  } finally {
    span.end();
    if (providerCalls.hasSubscribers) {
      providerCalls.publish({ issuer: request.call?.issuer ?? '', endpoint, status, seconds: (performance.now() - started) / 1000 } satisfies ProviderCall);
    }
  }
}

async function send(target: URL, request: ProviderRequest): Promise<Response> {
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
