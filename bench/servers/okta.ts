// Peer: Okta's own @okta/oidc-middleware, set up as its README shows (express-session with
// resave: true and saveUninitialized: false, in its default in-memory store; ExpressOIDC's router),
// serving the same home page as oidc-connect (the same Eta template).
//
// Two deviations, both needed to run it against a loopback development provider:
// * `testing.disableHttpsCheck`: it refuses an http:// issuer otherwise.
// * PKCE: it hard-codes `usePKCE: false` (src/oidcUtil.js), and the development provider, like an
//   Okta app with "Require PKCE" on, refuses a code flow without it. Its passport strategy (openid-client
//   5's) supports PKCE, so it is switched on once the strategy exists. That adds the same work
//   oidc-connect does (a code verifier in the session, S256 challenge).
// Env: PORT, BENCH_ISSUER, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, SESSION_SECRET.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import oktaMiddleware from '@okta/oidc-middleware';
import express from 'express';
import session from 'express-session';
import { createViews } from '../../src/web/pages/views.ts';
import { accessLog } from './access-log.ts';

const views = createViews();

const port = Number(process.env['PORT']);
const require = createRequire(import.meta.url);
// The passport instance @okta/oidc-middleware registered its strategy with.
const passport = createRequire(require.resolve('@okta/oidc-middleware'))('passport') as {
  _strategy(name: string): { _usePKCE: string | boolean } | undefined;
};

const app = express();
app.use(accessLog());
app.use(session({ secret: process.env['SESSION_SECRET']!, resave: true, saveUninitialized: false }));
const oidc = new oktaMiddleware.ExpressOIDC({
  issuer: process.env['BENCH_ISSUER']!,
  client_id: process.env['BENCH_CLIENT_ID']!,
  client_secret: process.env['BENCH_CLIENT_SECRET']!,
  appBaseUrl: `http://127.0.0.1:${port}`,
  scope: 'openid email profile',
  testing: { disableHttpsCheck: true },
});
app.use(oidc.router);

app.get('/', (req, res) => {
  const info = req.userContext?.userinfo;
  const user = info ? {
    id: 0, username: String(info.preferred_username ?? ''), email: String(info.email ?? ''), firstName: '', lastName: '',
    isStaff: false, isSuperuser: false, hasPassword: false,
  } : null;
  // A synchronizer token kept in the session, as csrf-sync (the middleware's own CSRF helper) does.
  const sessionData = req.session as unknown as { csrf?: string };
  const csrf = user ? (sessionData.csrf ??= randomBytes(32).toString('base64url')) : '';
  res.type('text/html; charset=utf-8').send(views.render('home', { user, csrf, provider: user ? 'Okta' : null, loggedOut: false }));
});

oidc.on('ready', () => {
  const strategy = passport._strategy('oidc');
  if (!strategy) throw new Error('@okta/oidc-middleware registered no oidc strategy');
  strategy._usePKCE = 'S256';
  const server = app.listen(port, '127.0.0.1', () => console.error('READY {}'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
});
oidc.on('error', (error: unknown) => {
  console.error(error);
  process.exit(1);
});
