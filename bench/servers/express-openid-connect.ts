// Peer: Auth0's express-openid-connect (the most used OIDC middleware for Express), configured as its
// README shows for the authorization code flow, serving the same home page as oidc-connect (the same
// Eta template). Its session is its default: an encrypted, rolling cookie (appSession).
// Like oidc-connect it fetches userinfo at login (afterCallback, as its docs show), because the
// provider puts the profile claims in userinfo, not in the ID token.
// Env: PORT, BENCH_ISSUER, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, SESSION_SECRET.
import express from 'express';
import { auth, type Session } from 'express-openid-connect';
import { createViews } from '../../src/web/pages/views.ts';
import { accessLog } from './access-log.ts';

const views = createViews();

const port = Number(process.env['PORT']);
const issuer = process.env['BENCH_ISSUER']!;
const baseURL = `http://127.0.0.1:${port}`;
let userinfoEndpoint: Promise<string> | undefined;

const app = express();
app.use(accessLog());
app.use(auth({
  authRequired: false,
  idpLogout: false,
  enableTelemetry: false,
  baseURL,
  issuerBaseURL: issuer,
  clientID: process.env['BENCH_CLIENT_ID']!,
  clientSecret: process.env['BENCH_CLIENT_SECRET']!,
  secret: process.env['SESSION_SECRET']!,
  authorizationParams: { response_type: 'code', response_mode: 'query', scope: 'openid email profile' },
  async afterCallback(_req, _res, session: Session) {
    userinfoEndpoint ??= fetch(`${issuer}/.well-known/openid-configuration`)
      .then((r) => r.json() as Promise<{ userinfo_endpoint: string }>)
      .then((m) => m.userinfo_endpoint);
    const response = await fetch(await userinfoEndpoint, { headers: { authorization: `Bearer ${String(session['access_token'])}` } });
    if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
    const userinfo = (await response.json()) as { preferred_username?: string; email?: string };
    return { ...session, user: { username: userinfo.preferred_username ?? '', email: userinfo.email ?? '' } };
  },
}));

app.get('/', (req, res) => {
  const session = (req as unknown as { appSession?: { user?: { username: string; email: string } } }).appSession;
  const user = req.oidc.isAuthenticated() && session?.user
    ? {
      id: 0, username: session.user.username, email: session.user.email, firstName: '', lastName: '',
      isStaff: false, isSuperuser: false, hasPassword: false,
    }
    : null;
  // express-openid-connect has no CSRF token facility (its logout is a GET route), so no token here.
  res.type('text/html; charset=utf-8').send(views.render('home', { user, csrf: '', provider: user ? 'Okta' : null, loggedOut: false }));
});

const server = app.listen(port, '127.0.0.1', () => console.error('READY {}'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
