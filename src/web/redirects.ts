/**
 * `next` is honoured only for same-origin paths: anything that a browser could read as another
 * host (`//evil`, `/\evil`, tabs or newlines that browsers strip) falls back to `/`.
 */
export function safeNext(next: unknown, appUrl: string): string {
  if (typeof next !== 'string' || next.length > 2048) return '/';
  if (!next.startsWith('/') || next.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(next)) return '/';
  try {
    const url = new URL(next, appUrl);
    if (url.origin !== new URL(appUrl).origin) return '/';
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return '/';
  }
}
