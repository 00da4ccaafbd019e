/** A path a browser keeps on this origin: not `//host`, `/\host`, nor with tabs or newlines that browsers strip. */
const isLocalPath = (path: string): boolean =>
  path.startsWith('/') && !path.startsWith('//') && !/[\\\u0000-\u001f\u007f]/.test(path);

const PLAIN_PATH = /^\/[\w/-]*$/;

/**
 * `next` is honoured only for same-origin paths: anything that a browser could read as another
 * host, or no `next` at all, gives `fallback` (LOGIN_REDIRECT_URL where a sign-in ends). The normalised result is checked again, because dot segments can collapse
 * into a protocol-relative path (`/.//evil`, `/%2e//evil` and `/..//evil` all become `//evil`).
 */
export function safeNext(next: unknown, appUrl: string, fallback = '/'): string {
  if (typeof next !== 'string' || next.length > 2048 || !isLocalPath(next)) return fallback;
  // Letters, digits, _, - and / only: no dot segment, escape or query that URL parsing could change,
  // so the path is its own normal form (the usual `next=/`, kept without two URL parses per login).
  if (PLAIN_PATH.test(next)) return next;
  try {
    const url = new URL(next, appUrl);
    const path = `${url.pathname}${url.search}${url.hash}`;
    return url.origin === new URL(appUrl).origin && isLocalPath(path) ? path : fallback;
  } catch {
    return fallback;
  }
}
