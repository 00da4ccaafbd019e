// An Express app with a protected page, signed in through oidc-connect: local accounts, "Log In with
// Okta" (or any OpenID provider), sessions and logout, from one middleware.
//
//   PORT=3000 node express.ts        (then open http://localhost:3000/private)
//
// Copy it into a project that depends on oidc-connect and express. In this repository's checkout,
// `npx node --conditions=oidc-connect-source examples/express.ts` runs it on the sources. With no
// OIDC_ISSUER or OKTA_DOMAIN (see the README), the embedded development provider starts too (it needs
// the oidc-provider package), with the demo users alice@example.com / wonderland and bob@example.com /
// builder. Local users come from `npx oidc-connect createsuperuser`.
import express from 'express';
import { Eta } from 'eta';
import { oidcConnect, requireLogin } from 'oidc-connect/express';

// Configuration from the environment and .env; SQLite in ./data unless DATABASE_URL says otherwise.
const auth = await oidcConnect({ devIdp: process.env.NODE_ENV !== 'production' });
const app = express();
app.use(auth); // at the root, before the app's body parsers and routes

// Any template engine that escapes by default will do; this one comes with oidc-connect.
const eta = new Eta();
const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title><%= it.title %></title>
<link rel="stylesheet" href="/oidc-connect/static/app.css"></head><body><main>
<h1><%= it.title %></h1>
<% if (it.user) { %>
  <p>Signed in as <strong><%= it.user.username %></strong> (<%= it.user.email %>).</p>
  <form method="post" action="/accounts/logout/"><input type="hidden" name="_csrf" value="<%= it.csrf %>"><button>Log Out</button></form>
<% } else { %>
  <p>You are not logged in. <a href="/accounts/login/?next=/private">Log In</a></p>
<% } %>
<p><a href="/">Home</a> · <a href="/private">Private page</a></p>
</main></body></html>`;

app.get('/', (req, res) => {
  res.send(eta.renderString(page, { title: 'Express example', user: req.user, csrf: req.user ? req.oidcConnect.csrfToken() : '' }));
});

app.get('/private', requireLogin(), (req, res) => {
  res.send(eta.renderString(page, { title: `Private page for ${req.user!.username}`, user: req.user, csrf: req.oidcConnect.csrfToken() }));
});

// On APP_URL's port and host (PORT, HOST): the provider sends browsers back to APP_URL, so an app
// listening anywhere else loses every sign-in at the callback.
const server = app.listen(auth.config.port, auth.config.host, () => {
  console.log(`Express example on ${auth.config.appUrl}/private`);
  if (auth.devIdp) {
    console.log(`development provider on ${auth.devIdp.issuer}; demo logins: ${auth.devIdp.users.map((u) => `${u.email} / ${u.password}`).join(', ')}`);
  }
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void auth.close().then(() => process.exit(0)));
    server.closeIdleConnections();
  });
}
