/**
 * A real LemonLDAP::NG OpenID provider for interop tests: Debian's portal (`liblemonldap-ng-portal-perl`,
 * 2.16 on Debian 12) served by `plackup` on a loopback port, with a file configuration made from
 * lmConf.template.json in a temporary folder. Users come from the "Demo" backend (dwho/dwho,
 * rtyler/rtyler, msmith/msmith); dwho is in the groups `timelords` and `users`.
 *
 * The relying party in the template is set up as docs/providers/lemonldap-ng.md says: PKCE required,
 * an `email_verified` macro exported as a boolean, `groups` as an array for the `groups` scope, JWT
 * access tokens with an extra audience, no consent or logout confirmation pages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../app.ts';

export const PORTAL_PSGI = '/usr/share/lemonldap-ng/portal/htdocs/index.psgi';
export const PLACKUP = '/usr/bin/plackup';
const TEMPLATE = new URL('./lmConf.template.json', import.meta.url);

export interface LemonLdapOptions {
  /** The app's origin; the redirect URIs are registered under it. */
  appUrl: string;
  /** Loopback port; pick it first (freePort) when the app needs the issuer before the portal runs. */
  port?: number;
  /** Default `my-app`: a dash, which openid-client percent-encodes in Basic credentials. */
  clientId?: string;
  clientSecret?: string;
  /** Added to the access token's audiences (the app's OIDC_API_AUDIENCE). */
  apiAudience?: string;
}

export interface LemonLdap {
  /** As LemonLDAP::NG states it in discovery: the portal URL, with its trailing slash. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  stop(): Promise<void>;
}

/** Why the portal cannot run here, or false when it can. */
export function lemonLdapMissing(): string | false {
  if (!existsSync(PORTAL_PSGI)) return `${PORTAL_PSGI} is missing (apt-get install liblemonldap-ng-portal-perl)`;
  if (!existsSync(PLACKUP)) return `${PLACKUP} is missing (apt-get install libplack-perl)`;
  return false;
}

export function lemonLdapIssuer(port: number): string {
  return `http://127.0.0.1:${port}/`;
}

export async function startLemonLdap(options: LemonLdapOptions): Promise<LemonLdap> {
  const missing = lemonLdapMissing();
  if (missing) throw new Error(`LemonLDAP::NG cannot start: ${missing}`);
  const port = options.port ?? await freePort();
  const issuer = lemonLdapIssuer(port);
  const clientId = options.clientId ?? 'my-app';
  const clientSecret = options.clientSecret ?? 'interop-secret';
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-lemonldap-'));
  for (const sub of ['conf', 'sessions/lock', 'psessions/lock']) mkdirSync(join(dir, sub), { recursive: true });

  // Crypt::OpenSSL::RSA reads PKCS#1 PEM.
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const values: Record<string, string> = {
    PORTAL: issuer,
    DIR: dir,
    APP_URL: options.appUrl,
    CLIENT_ID: clientId,
    CLIENT_SECRET: clientSecret,
    API_AUDIENCE: options.apiAudience ?? 'api://default',
    PRIVATE_KEY: keys.privateKey,
    PUBLIC_KEY: keys.publicKey,
  };
  // Placeholders are whole JSON strings, replaced after parsing so PEM newlines need no escaping by hand.
  const conf = JSON.parse(readFileSync(TEMPLATE, 'utf8'), (_key, value: unknown) =>
    typeof value === 'string' ? value.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => values[name] ?? _m) : value);
  writeFileSync(join(dir, 'conf', 'lmConf-1.json'), JSON.stringify(conf, null, 2));
  writeFileSync(join(dir, 'lemonldap-ng.ini'), [
    '[all]', 'logLevel = warn', '',
    '[configuration]', 'type = File', `dirName = ${join(dir, 'conf')}`, '',
    '[portal]', 'staticPrefix = /static', 'templateDir = /usr/share/lemonldap-ng/portal/templates', 'languages = en', '',
  ].join('\n'));

  const child = spawn(PLACKUP, ['-s', 'HTTP::Server::PSGI', '--host', '127.0.0.1', '--port', String(port), PORTAL_PSGI], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LLNG_DEFAULTCONFFILE: join(dir, 'lemonldap-ng.ini') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => { log += chunk; });
  child.stderr!.on('data', (chunk: Buffer) => { log += chunk; });

  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForDiscovery(issuer, child, () => log);
  } catch (error) {
    await stop();
    throw error;
  }
  return { issuer, clientId, clientSecret, stop };
}

/** Until the portal answers its discovery document (the first request loads the configuration). */
async function waitForDiscovery(issuer: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`plackup exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${issuer}.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
      const body = await response.text();
      if (response.ok && body.includes('"issuer"')) return;
      last = `${response.status} ${body.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`LemonLDAP::NG did not serve its discovery document within 30 s (${last}):\n${log()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
