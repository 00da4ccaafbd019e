// The floor: the least a signed-in page must cost, as a Fastify route that does only that work,
// each part the cheapest known way. The authenticated page's ceiling (bare Fastify, servers/bare.ts,
// does none of it and stays as a reference):
//   - a request log line, as Fastify logs in production (pino, level info, to standard output): one
//     `request completed` line per request with its reqId, req and res, written through the server's
//     logger (no per-request child logger, Fastify's own request ids);
//   - the session cookie's secret hashed with SHA-256 (node:crypto, base64url), as a server-side
//     session store keyed by the hash does;
//   - one Map lookup of that hash;
//   - a page carrying that session's form token (and its user's name), as string concatenation
//     around the page oidc-connect rendered for alice (BENCH_HTML_FILE);
//   - twelve security headers (helmet's, as oidc-connect sends them), computed once: the headers of
//     oidc-connect's own page for alice (BENCH_HEADERS), set from one object.
// It leaves out everything else a real app does: no expiry or idle check, no database, no cache
// invalidation, no cookie parser, no template engine, no renewal or last_seen bookkeeping.
// Env: PORT, BENCH_HTML_FILE, BENCH_HEADERS (JSON), BENCH_SESSIONS (a JSON array of
// { secret, csrf, greeting } for the cookie secrets it knows: the Map), BENCH_COOKIE (the session
// cookie's name).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

const html = readFileSync(process.env['BENCH_HTML_FILE']!, 'utf8');
const cookieName = `${process.env['BENCH_COOKIE']!}=`;

// The page around its two per-session parts: the greeting ("name - email") and the form token.
const token = /name="_csrf" value="([^"]*)"/.exec(html);
const greeting = /Hi ([^<!]*)!/.exec(html);
if (!token || !greeting || greeting.index > token.index) throw new Error('BENCH_HTML_FILE: no greeting before a _csrf field');
const parts = [
  html.slice(0, greeting.index + 3),
  html.slice(greeting.index + 3 + greeting[1]!.length, token.index + token[0].indexOf('value="') + 7),
  html.slice(token.index + token[0].length - 1),
];

interface Session {
  /** What the page greets its user with, HTML-escaped once, when the session was made. */
  greeting: string;
  csrf: string;
}
const sessions = new Map<string, Session>();
for (const s of JSON.parse(process.env['BENCH_SESSIONS']!) as Array<Session & { secret: string }>) {
  sessions.set(createHash('sha256').update(s.secret).digest('base64url'), { greeting: s.greeting, csrf: s.csrf });
}

const headers = JSON.parse(process.env['BENCH_HEADERS']!) as Record<string, string>;

/** One line per request, when the answer has gone, through the server's logger. */
class OneLine extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) request.server.log.error({ reqId: request.id, req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else request.server.log.info({ reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

const app = Fastify({ logger: { level: 'info' }, logController: new OneLine(), childLoggerFactory: (logger) => logger });
app.get('/', (request, reply) => {
  const cookie = request.headers.cookie ?? '';
  const at = cookie.indexOf(cookieName);
  const session = at === -1 ? undefined : sessions.get(createHash('sha256').update(cookie.slice(at + cookieName.length, at + cookieName.length + 43)).digest('base64url'));
  reply.headers(headers);
  if (!session) return reply.code(401).send('not signed in');
  return reply.send(parts[0]! + session.greeting + parts[1]! + session.csrf + parts[2]!);
});
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().finally(() => process.exit(0)));
console.error('READY {}');
