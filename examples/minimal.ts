// Sign-in for someone else's Fastify app: local accounts, "Log In with Okta" (or any OpenID provider),
// sessions, logout and bearer-token APIs, from one plugin. Copy it into a project that depends on
// oidc-connect and set OKTA_DOMAIN (or OIDC_ISSUER), OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET (see
// the README); `npm test` type-checks it there, runs it and signs in through both flows.
//
//   PORT=3000 node minimal.ts        (then open http://localhost:3000/account)
import Fastify from 'fastify';
import { loadConfig, oidcConnect } from 'oidc-connect';

// Configuration from the environment and .env; SQLite in ./data unless DATABASE_URL says otherwise.
const config = loadConfig();
const app = Fastify({ logger: true });
await app.register(oidcConnect, { config });

app.get('/', async (request) =>
  request.user ? `Hello ${request.user.username}` : 'Not signed in: visit /accounts/login/');

app.get('/account', { preHandler: app.requireLogin }, async (request) => ({ username: request.user!.username }));

app.get('/api/reports', { preHandler: app.requireBearer({ scopes: ['reports:read'] }) }, async (request) =>
  ({ reports: [], for: request.bearer!.subject }));

// On APP_URL's port and host (PORT, HOST): the provider sends browsers back to APP_URL, so an app
// listening anywhere else loses every sign-in at the callback.
await app.listen({ port: config.port, host: config.host });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
