import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevIdp, type DevIdp } from '../../src/dev-idp/index.ts';
import { devIdpOptions } from '../../src/web/runtime.ts';
import { freePort, startTestApp, type TestApp } from './app.ts';
import { signIn } from './dev-idp-login.ts';
import { HttpClient, type Hop } from './http-client.ts';

export interface DevStack {
  app: TestApp;
  idp: DevIdp;
  close(): Promise<void>;
}

/** The app and the embedded development provider, each on its own port, wired as `npm start` does. */
export async function startDevStack(env: Record<string, string> = {}, users?: object[]): Promise<DevStack> {
  const idpPort = env.DEV_IDP_PORT === undefined ? await freePort() : Number(env.DEV_IDP_PORT);
  const app = await startTestApp({ DEV_IDP_PORT: String(idpPort), ...env });
  let usersFile: string | undefined;
  if (users) {
    usersFile = join(app.dir, 'users.json');
    writeFileSync(usersFile, JSON.stringify(users));
  }
  // Registered as the app's configuration says (its client's authentication method, for one).
  const idp = await startDevIdp({ ...devIdpOptions(app.config), port: idpPort, dataDir: app.dir, ...(usersFile ? { usersFile } : {}) });
  return {
    app,
    idp,
    async close() {
      await app.close();
      await idp.close();
    },
  };
}

/**
 * Clicks "Log In with Okta" and signs in on the provider's form. Returns the app's answer to the
 * callback: a 302 to `next` when the login worked, or the error page.
 */
export async function providerLogin(
  client: HttpClient,
  appUrl: string,
  credentials: { email: string; password: string } | null,
  next = '/',
): Promise<Hop> {
  const start = await client.get(`${appUrl}/authorization-code/authenticate/?${new URLSearchParams({ next })}`);
  if (start.status !== 302) return start;
  const callback = await signIn(client, start.location!, `${appUrl}/authorization-code/callback`, credentials);
  return client.get(callback.href);
}

/** Submits the provider's logout confirmation (a browser's script does it by itself). */
export async function confirmProviderLogout(client: HttpClient, page: Hop): Promise<Hop[]> {
  const form = /<form id="logout-form" method="post" action="([^"]+)"/.exec(page.body);
  if (!form) throw new Error(`no logout form at ${page.url}`);
  const fields: Record<string, string> = {};
  for (const match of page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[match[1]!] = match[2]!;
  return client.follow(await client.post(new URL(form[1]!.replace(/&amp;/g, '&'), page.url).href, fields));
}
