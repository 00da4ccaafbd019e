import type { Config, ProviderConfig } from '../config/index.ts';
import { isLoopbackHost } from '../config/parse.ts';
import { causeMessages, type ConfigError, type OidcConnectError } from '../errors.ts';
import { createMailTransport } from '../mail/transport.ts';
import { dpopAlgorithm } from '../rp/dpop.ts';
import { ProviderClient } from '../rp/provider.ts';
import { discoveryHint, providerFindings } from './provider-hints.ts';

/** A refresh token no provider issued: the token endpoint checks our client credentials before it refuses it. */
const PROBE_REFRESH_TOKEN = 'oidc-connect-check';

/**
 * `oidc-connect check`: OK lines, or one PROBLEM line per problem followed by its causes (DNS, TCP,
 * HTTP status, expected vs actual), one `cause:` line each. WARN and NOTE lines (provider-hints.ts)
 * inform without failing. Returns the number of problems.
 */
export async function checkSetup(config: Config, print: (line: string) => void): Promise<number> {
  let problems = 0;
  const fail = (line: string, error?: OidcConnectError) => {
    problems++;
    print(`PROBLEM ${line}`);
    for (const cause of error ? causeMessages(error).slice(1) : []) print(`  cause: ${cause}`);
  };
  for (const unknown of config.unknownVariables) print(`WARN ${unknown.message}`);
  const app = new URL(config.appUrl);
  if (app.protocol !== 'https:' && !isLoopbackHost(app.hostname)) {
    fail(`APP_URL=${config.appUrl}: providers refuse plain-http redirect URIs outside localhost; use https://`);
  }
  if (config.providers.length === 0) print('OK no OpenID provider configured (local accounts only)');
  for (const provider of config.providers) {
    // The one-time switch to client_secret_post (when Basic is refused) is a line of its own.
    const rp = new ProviderClient(provider, { ...config, log: { warn: (_details, message) => print(`WARN ${message}`) } });
    const setting = `${provider.settings?.issuer ?? provider.name} (issuer ${provider.issuer})`;
    print(`OK ${provider.name}: redirect URI ${rp.redirectUri} (register it exactly like this at the provider)`);
    try {
      const metadata = await rp.serverMetadata();
      print(`OK ${provider.name}: discovery from ${provider.issuer} (issuer matches)`);
      if (!metadata.end_session_endpoint) print(`OK ${provider.name}: no end_session_endpoint, so logout will be local only`);
      try {
        rp.requireFeatures(metadata);
      } catch (error) {
        for (const problem of (error as ConfigError).problems) fail(problem);
      }
      if (rp.pushes(metadata) && metadata.pushed_authorization_request_endpoint) {
        print(`OK ${provider.name}: authorization requests are pushed first (PAR, OIDC_USE_PAR=${provider.par ?? 'auto'})`);
      }
      if (provider.dpop && dpopAlgorithm(metadata)) print(`OK ${provider.name}: tokens are bound to each session's own key (DPoP, ${dpopAlgorithm(metadata)})`);
      const methods = metadata.token_endpoint_auth_methods_supported;
      if (!provider.tokenAuthMethod && methods && !methods.includes('client_secret_basic') && !methods.includes('client_secret_post')) {
        fail(`${provider.name}: the provider supports neither client_secret_basic nor client_secret_post (${methods.join(', ')}); set OIDC_RP_TOKEN_AUTH_METHOD to one it lists`);
      }
      if (provider.tokenAuthMethod === 'private_key_jwt') {
        const alg = await rp.assertionAlgorithm();
        const algs = metadata.token_endpoint_auth_signing_alg_values_supported;
        if (algs && !algs.includes(alg)) fail(`OIDC_RP_PRIVATE_KEY: its key signs ${alg}, which ${provider.name} does not accept (it lists ${algs.join(', ')}); use a key for one of those (npx oidc-connect keygen --alg ES256 or RS256)`);
        else print(`OK ${provider.name}: private_key_jwt assertions are signed ${alg} with the key of ${provider.privateKeys![0]!.file}`);
      }
      for (const { level, line } of providerFindings(provider, config, metadata)) {
        if (level === 'PROBLEM') fail(line);
        else print(`${level} ${line}`);
      }
    } catch (error) {
      const hint = config.devIdp ? ' (the development provider runs with `npm start` or `npx oidc-connect dev-idp`)' : discoveryHint(provider);
      fail(`${setting}: ${(error as Error).message}${hint}`, error as OidcConnectError);
      continue;
    }
    await checkCredentials(provider, rp, fail, print);
  }
  await checkMail(config, fail, print);
  if (problems === 0) print('OK configuration is valid');
  return problems;
}

/** Where mail goes; for EMAIL_URL, whether the server takes the connection, TLS and the login. */
async function checkMail(config: Config, fail: (line: string, error?: OidcConnectError) => void, print: (line: string) => void): Promise<void> {
  const settings = config.mail.transport;
  if (settings === null) {
    print(config.production
      ? 'WARN EMAIL_URL is not set: password reset by email and email verification are off'
      : 'WARN EMAIL_URL is not set, and the development mailbox is only offered on a loopback APP_URL: password reset by email and email verification are off');
    return;
  }
  if (settings.kind === 'mailbox') {
    print(`OK mail: no EMAIL_URL, so mail goes to the development mailbox, ${config.appUrl}/dev/mailbox/`);
    return;
  }
  const transport = createMailTransport(config.mail)!;
  try {
    await transport.verify();
    print(`OK EMAIL_URL ${settings.display}: the server takes the connection${settings.secure || settings.requireTls ? ' over TLS' : ''}${settings.auth ? ' and the login' : ''}`);
  } catch (error) {
    fail(`EMAIL_URL ${settings.display}: ${causeMessages(error)[0] ?? String(error)}`, error as OidcConnectError);
  } finally {
    transport.close();
  }
}

/** The token endpoint refuses a made-up refresh token either way; how it refuses tells whether it accepted our client. */
async function checkCredentials(
  provider: ProviderConfig,
  rp: ProviderClient,
  fail: (line: string, error?: OidcConnectError) => void,
  print: (line: string) => void,
): Promise<void> {
  try {
    await rp.refresh({ refreshToken: PROBE_REFRESH_TOKEN });
  } catch (error) {
    const { code, message } = error as OidcConnectError;
    if (code === 'CLIENT_AUTH_FAILED' || code === 'PROVIDER_UNREACHABLE' || code === 'PROVIDER_TIMEOUT') {
      fail(`${provider.name} token endpoint: ${message}`, error as OidcConnectError);
      return;
    }
  }
  print(`OK ${provider.name}: the token endpoint accepts the client credentials`);
}
