/**
 * Every request to a provider (discovery, token, userinfo, JWKS, introspection) goes through one
 * keep-alive connection pool, so a login costs no TCP or TLS handshake. `providerFetch` has the
 * fetch signature openid-client takes as its `customFetch`, but sends with undici's request API:
 * fetch's per-call machinery (Request objects, web streams, spec checks) was a fifth of a login's CPU.
 */
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
}

/** Statuses whose answer has no body (a Response refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A provider request through the pool, answered as a fetch Response. Redirects are not followed
 * (openid-client asks for `redirect: 'manual'`), and no Accept-Encoding is sent, so answers come
 * uncompressed.
 */
export async function providerFetch(url: string | URL, request: ProviderRequest = {}): Promise<Response> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { statusCode, headers, body } = await pool.request({
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: (request.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: request.headers ?? {},
    body: requestBody(request.body),
    signal: request.signal ?? undefined,
  });
  const payload = NULL_BODY.has(statusCode) ? (await body.dump(), null) : await body.arrayBuffer();
  const answerHeaders = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const each of value) answerHeaders.append(name, each);
    else if (value !== undefined) answerHeaders.set(name, value);
  }
  const response = new Response(payload, { status: statusCode, headers: answerHeaders });
  // As fetch's own answers do: error messages name the URL that answered (src/errors.ts: causeMessages).
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
