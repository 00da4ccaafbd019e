// The ceilings: a bare Fastify app with no sign-in at all.
//   GET /        the home page's HTML, exactly as oidc-connect rendered it for the logged-in user
//                (BENCH_HTML_FILE), without any session lookup, CSRF token or template.
//   GET /api/me  jose's jwtVerify of the Bearer token with a local key (imported once at start from
//                the provider's JWKS, BENCH_JWKS_URL), the same iss/aud/alg checks, and a small JSON.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import * as jose from 'jose';

const html = readFileSync(process.env['BENCH_HTML_FILE']!, 'utf8');
const issuer = process.env['BENCH_ISSUER']!;
const jwks = (await (await fetch(process.env['BENCH_JWKS_URL']!)).json()) as { keys: jose.JWK[] };
const keys = new Map<string, jose.CryptoKey | Uint8Array>();
for (const jwk of jwks.keys) if (jwk.kid && jwk.alg) keys.set(jwk.kid, await jose.importJWK(jwk, jwk.alg));

const app = Fastify({ logger: false });
app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
app.get('/api/me', async (request, reply) => {
  const token = (request.headers.authorization ?? '').slice('Bearer '.length);
  try {
    const { payload } = await jose.jwtVerify(token, (header) => keys.get(header.kid ?? '')!, {
      issuer,
      audience: 'api://default',
      algorithms: ['RS256', 'ES256'],
      requiredClaims: ['exp', 'sub'],
    });
    return { sub: payload.sub, scopes: payload['scp'], client_id: payload['cid'] };
  } catch {
    return reply.code(401).send({ error: 'INVALID_TOKEN' });
  }
});
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().finally(() => process.exit(0)));
console.error('READY {}');
