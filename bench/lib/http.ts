import { Agent, request } from 'node:http';

/** One keep-alive pool for the whole driver: browsers keep their connections open too. */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

export interface Answer {
  status: number;
  location: string | null;
  body: string;
  setCookies: string[];
  url: string;
}

/** One request and its whole answer; an error carries `reusedSocket` when it went out on a kept-alive connection. */
function exchange(target: URL, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(target, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const location = res.headers.location;
        resolve({
          status: res.statusCode ?? 0,
          location: location ? new URL(location, target).href : null,
          body: Buffer.concat(chunks).toString('utf8'),
          setCookies: res.headers['set-cookie'] ?? [],
          url: target.href,
        });
      });
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${target.href}`)));
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

/**
 * A browser stand-in for scripted logins: one cookie jar (host-only, by host:port), manual redirects.
 * Small on purpose, because it runs on the load generator's core next to the provider.
 */
export class Browser {
  readonly jar = new Map<string, Map<string, string>>();

  cookies(origin: string): Map<string, string> {
    let cookies = this.jar.get(origin);
    if (!cookies) this.jar.set(origin, (cookies = new Map()));
    return cookies;
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name);
  }

  async send(method: 'GET' | 'POST', url: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    const target = new URL(url);
    const jar = this.cookies(target.host);
    const all: Record<string, string> = { accept: 'text/html', 'user-agent': 'oidc-connect-bench', ...headers };
    if (jar.size > 0) all['cookie'] = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (form) {
      body = new URLSearchParams(form).toString();
      all['content-type'] = 'application/x-www-form-urlencoded';
      all['content-length'] = String(Buffer.byteLength(body));
    }
    const answer = await exchange(target, method, all, body).catch((error: unknown) => {
      // A kept-alive connection the server closed while idle, just as this request went out on it
      // (the race Node's docs describe): the server never handled it, and a browser sends it again.
      const failure = error as { reusedSocket?: boolean; code?: string };
      if (failure.reusedSocket && failure.code === 'ECONNRESET') {
        return exchange(target, method, all, body);
      }
      throw error;
    });
    for (const line of answer.setCookies) {
      const pair = line.slice(0, line.indexOf(';') === -1 ? undefined : line.indexOf(';'));
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return answer;
  }

  get(url: string, headers?: Record<string, string>): Promise<Answer> {
    return this.send('GET', url, undefined, headers);
  }

  post(url: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Answer> {
    return this.send('POST', url, form, headers);
  }
}

/** One plain GET without cookies of ours (for checks), returning status and body. */
export async function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers, redirect: 'manual' });
  return { status: response.status, body: await response.text() };
}
