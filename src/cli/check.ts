import type { Config } from '../config/index.ts';
import { isLoopbackHost } from '../config/parse.ts';
import { ProviderClient } from '../rp/provider.ts';

/** `oidc-connect check`: one line per problem, or OK lines; returns the problems. */
export async function checkSetup(config: Config, print: (line: string) => void): Promise<number> {
  let problems = 0;
  const fail = (line: string) => {
    problems++;
    print(`PROBLEM ${line}`);
  };
  const app = new URL(config.appUrl);
  if (app.protocol !== 'https:' && !isLoopbackHost(app.hostname)) {
    fail(`APP_URL=${config.appUrl}: providers refuse plain-http redirect URIs outside localhost; use https://`);
  }
  if (config.providers.length === 0) print('OK no OpenID provider configured (local accounts only)');
  for (const provider of config.providers) {
    const rp = new ProviderClient(provider, config);
    print(`OK ${provider.name}: redirect URI ${rp.redirectUri} (register it exactly like this at the provider)`);
    try {
      const metadata = await rp.serverMetadata();
      print(`OK ${provider.name}: discovery from ${provider.issuer} (issuer matches)`);
      if (!metadata.end_session_endpoint) print(`OK ${provider.name}: no end_session_endpoint, so logout will be local only`);
      const methods = metadata.token_endpoint_auth_methods_supported;
      if (methods && !methods.includes('client_secret_basic') && !methods.includes('client_secret_post')) {
        fail(`${provider.name}: the provider supports neither client_secret_basic nor client_secret_post (${methods.join(', ')})`);
      }
      const scopes = metadata.scopes_supported;
      const missing = scopes ? provider.scopes.filter((s) => !scopes.includes(s)) : [];
      if (missing.length > 0) fail(`OIDC_RP_SCOPES: the provider does not list ${missing.join(', ')} in scopes_supported`);
    } catch (error) {
      const hint = config.devIdp ? ' (the development provider runs with `npm start` or `npx oidc-connect dev-idp`)' : '';
      fail(`${config.devIdp ? 'DEV_IDP_PORT' : 'OIDC_ISSUER'}=${provider.issuer}: discovery failed: ${(error as Error).message}${hint}`);
    }
  }
  if (problems === 0) print('OK configuration is valid');
  return problems;
}
