// Sign-in for someone else's Fastify app: local accounts, "Log In with Okta" (or the built-in
// development provider), sessions, logout and bearer-token APIs, from one plugin.
// Run it from a project that depends on oidc-connect, with OKTA_DOMAIN, OIDC_RP_CLIENT_ID and
// OIDC_RP_CLIENT_SECRET set (see the README); this file is type-checked by `npm test`.
import Fastify from 'fastify';
import { oidcConnect } from 'oidc-connect';

const app = Fastify({ logger: true });
await app.register(oidcConnect); // config from the environment; SQLite in ./data unless DATABASE_URL says otherwise

app.get('/', async (request) =>
  request.user ? `Hello ${request.user.username}` : 'Not signed in: visit /accounts/login/');

app.get('/account', { preHandler: app.requireLogin }, async (request) => ({ username: request.user!.username }));

app.get('/api/reports', { preHandler: app.requireBearer({ scopes: ['reports:read'] }) }, async (request) =>
  ({ reports: [], for: request.bearer!.subject }));

await app.listen({ port: 3000 });
