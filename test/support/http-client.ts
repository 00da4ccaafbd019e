import { request as httpRequest } from 'node:http';

/**
 * node:http rather than fetch: fetch forces its own Sec-Fetch-* headers, and tests must be able to
 * present themselves as a page navigation.
 */
function send(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) out.append(name, v);
        }
        const status = res.statusCode ?? 0;
        const content = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(content, { status, headers: out }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A tiny browser stand-in for HTTP tests: a cookie jar per instance and manual redirects, so each
 * test can see every hop (status, Location, Set-Cookie) and attacks can replay or swap cookies.
 */
export interface Hop {
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
  url: string;
}

export class HttpClient {
  readonly cookies = new Map<string, string>(); // "host name" -> value, host-only is enough for tests

  private key(url: URL, name: string): string {
    return `${url.hostname}:${url.port} ${name}`;
  }

  cookie(url: string, name: string): string | undefined {
    return this.cookies.get(this.key(new URL(url), name));
  }

  setCookie(url: string, name: string, value: string): void {
    this.cookies.set(this.key(new URL(url), name), value);
  }

  private cookieHeader(url: URL): string {
    const prefix = `${url.hostname}:${url.port} `;
    return [...this.cookies].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => `${k.slice(prefix.length)}=${v}`).join('; ');
  }

  async request(method: string, url: string, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Hop> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await send(target, method, headers, body);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(this.key(target, name));
      else this.cookies.set(this.key(target, name), value);
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location === null ? null : new URL(location, target).href,
      body: await response.text(),
      headers: response.headers,
      url: target.href,
    };
  }

  get(url: string, headers?: Record<string, string>): Promise<Hop> {
    return this.request('GET', url, headers ? { headers } : {});
  }

  post(url: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Hop> {
    return this.request('POST', url, { form, ...(headers ? { headers } : {}) });
  }

  /** Follows redirects (GET) until a non-redirect answer; returns every hop. */
  async follow(first: Hop, limit = 15): Promise<Hop[]> {
    const hops = [first];
    let hop = first;
    while (hop.location && hop.status >= 300 && hop.status < 400 && hops.length < limit) {
      hop = await this.get(hop.location);
      hops.push(hop);
    }
    return hops;
  }
}

/** The value of a hidden input, e.g. the CSRF token of a form. */
export function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden field ${name} in page`);
  return match[1]!.replace(/&amp;/g, '&');
}
