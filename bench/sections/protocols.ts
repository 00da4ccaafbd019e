import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { appLogin, loginLoad, type AppLoginTarget } from '../lib/logins.ts';
import type { Options } from '../lib/options.ts';
import { cpuMs, freePort, LOAD_CORE, SERVER_CORE, startServer, type Child } from '../lib/proc.ts';
import { ALICE, SERVERS, oursEnvironment, providerDataDir } from '../lib/stack.ts';
import { median } from '../lib/stats.ts';

/** One oidc-connect set up one way, and what its logins cost. */
export interface ProtocolRow {
  key: string;
  label: string;
  /** App CPU per complete login, ms (median of the rounds). */
  appCpuMs: number;
  /** The provider's, ms. */
  providerCpuMs: number;
  loginsPerSecond: number;
  completed: number;
  errors: number;
  firstError: string | undefined;
}

interface Variant {
  key: string;
  label: string;
  /** Its one setting, over oursEnvironment's (its client is bench-<key>). */
  env: Record<string, string>;
  /** How the provider knows this app's client, besides its id and redirect URI. */
  client?: (url: string) => Record<string, unknown>;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * 6. Login CPU by protocol feature (issue 23): the same complete login (new browser, provider form,
 * callback with token exchange, ID token checks, userinfo, new session) through four oidc-connect
 * processes that differ in one setting each, against one provider of their own, in interleaved rounds:
 * the default (client_secret_basic, the request pushed by PAR since the provider offers it), the same
 * without PAR, private_key_jwt (an RS256 assertion at PAR and token), and DPoP (a new ES256 key per
 * login, proofs at PAR, token and userinfo, each first answered with the provider's nonce).
 */
export async function protocolSection(options: Options): Promise<ProtocolRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-bench-protocols-'));
  const providerDir = providerDataDir(dir);
  const keyFile = join(dir, 'client-key.pem');
  writeFileSync(keyFile, await exportPKCS8((await generateKeyPair('RS256', { extractable: true })).privateKey), { mode: 0o600 });
  const secret = randomBytes(32).toString('base64url'); // the session secret, and the clients' (production refuses a weak one)
  const variants: Variant[] = [
    { key: 'plain', label: 'client_secret_basic, PAR (the default)', env: {} },
    { key: 'no-par', label: 'client_secret_basic, no PAR', env: { OIDC_USE_PAR: 'off' } },
    {
      key: 'private_key_jwt', label: 'private_key_jwt (RS256), PAR', env: { OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt', OIDC_RP_PRIVATE_KEY: keyFile },
      client: (url) => ({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${url}/.well-known/jwks.json` }),
    },
    { key: 'dpop', label: 'DPoP (ES256), client_secret_basic, PAR', env: { OIDC_DPOP: 'on' } },
  ];

  const children: Child[] = [];
  try {
    const ports = await Promise.all(variants.map(() => freePort()));
    const urls = ports.map((port) => `http://127.0.0.1:${port}`);
    const provider = await startServer('provider (protocols)', SERVERS.idp, LOAD_CORE, {
      BENCH_IDP_PORT: String(await freePort()),
      BENCH_APP_URL: urls[0]!,
      BENCH_DATA_DIR: providerDir,
      BENCH_EXTRA_CLIENTS: JSON.stringify(variants.map((v, i) => ({
        client_id: `bench-${v.key}`, client_secret: secret, redirect_uris: [`${urls[i]}/authorization-code/callback`], ...v.client?.(urls[i]!),
      }))),
    });
    children.push(provider);
    const issuer = String(provider.info['issuer']);
    const apps = await Promise.all(variants.map(async (variant, i) => {
      // As the other measures run it (production, request logs), with this variant's one setting.
      const child = await startServer(`oidc-connect (${variant.key})`, SERVERS.ours, SERVER_CORE, {
        ...oursEnvironment({
          dir, port: ports[i]!, databaseUrl: `sqlite:${join(dir, `${variant.key}.sqlite`)}`, sessionSecret: secret, issuer,
          client: { clientId: `bench-${variant.key}`, clientSecret: secret },
        }),
        ...variant.env,
      });
      children.push(child);
      const target: AppLoginTarget = { startUrl: `${urls[i]}/authorization-code/authenticate/?next=%2F`, callbackUrl: `${urls[i]}/authorization-code/callback`, sessionCookie: 'oc_session' };
      await appLogin(target, ALICE); // it works before it is measured
      return { variant, child, target };
    }));

    const runs = new Map(variants.map((v) => [v.key, [] as Array<{ app: number; provider: number; completed: number; errors: number; elapsedMs: number; firstError: string | undefined }>]));
    const measure = async (app: (typeof apps)[number], seconds: number) => {
      const [app0, idp0] = [cpuMs(app.child.pid), cpuMs(provider.pid)];
      const result = await loginLoad(options.loginConcurrency, seconds * 1000, () => appLogin(app.target, ALICE));
      return { ...result, app: cpuMs(app.child.pid) - app0, provider: cpuMs(provider.pid) - idp0 };
    };
    if (options.warmupSeconds > 0) for (const app of apps) await measure(app, options.warmupSeconds);
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < apps.length; i++) {
        const app = apps[(i + round) % apps.length]!;
        const run = await measure(app, options.seconds);
        runs.get(app.variant.key)!.push(run);
        log(`  protocols round ${round + 1}/${options.rounds} ${app.variant.label}: app ${(run.app / run.completed).toFixed(2)} ms/login, provider ${(run.provider / run.completed).toFixed(2)} ms/login${run.errors ? `, ${run.errors} errors (${run.firstError})` : ''}`);
      }
    }
    return variants.map((variant) => {
      const rounds = runs.get(variant.key)!;
      return {
        key: variant.key,
        label: variant.label,
        appCpuMs: median(rounds.map((r) => r.app / r.completed)),
        providerCpuMs: median(rounds.map((r) => r.provider / r.completed)),
        loginsPerSecond: median(rounds.map((r) => (r.completed * 1000) / r.elapsedMs)),
        completed: rounds.reduce((sum, r) => sum + r.completed, 0),
        errors: rounds.reduce((sum, r) => sum + r.errors, 0),
        firstError: rounds.find((r) => r.firstError)?.firstError,
      };
    });
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    rmSync(dir, { recursive: true, force: true });
    if (!process.env['BENCH_IDP_DIR']) rmSync(providerDir, { recursive: true, force: true });
  }
}
