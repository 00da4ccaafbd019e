import { randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';
import type { Account, Grant, KoaContextWithOIDC } from 'oidc-provider';

import { SCOPE_CLAIMS, SUPPORTED_SCOPES, userClaims } from './claims.ts';
import { API_AUDIENCE, clientMetadata } from './clients.ts';
import type { ClientRegistration } from './clients.ts';
import type { UserDirectory } from './demo-users.ts';
import type { DevDpop } from './dpop.ts';
import { publicJwks, type ProviderKeys } from './keys.ts';
import type { SqliteStore } from './op-storage.ts';
import { interactions, SUPPORTED_ACRS } from './second-step.ts';
import { registerTokenExchange } from './token-exchange.ts';
import { renderError, renderLogout, renderSignedOut } from './views.ts';

/** Okta's endpoint paths, relative to the issuer. */
export const ROUTES = {
  authorization: '/v1/authorize',
  token: '/v1/token',
  userinfo: '/v1/userinfo',
  jwks: '/v1/keys',
  end_session: '/v1/logout',
  introspection: '/v1/introspect',
  revocation: '/v1/revoke',
  pushed_authorization_request: '/v1/par',
} as const;

export const ACCESS_TOKEN_TTL = 60 * 60;
const DAY = 24 * 60 * 60;

export interface ProviderSetup {
  issuer: string;
  keys: ProviderKeys;
  store: SqliteStore;
  users: UserDirectory;
  clients: readonly ClientRegistration[];
  /** DPoP where this provider answers by itself (token exchange; userinfo has it too). */
  dpop: DevDpop;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * oidc-provider refuses to call special-use addresses (SSRF protection), which includes loopback.
 * Its only outgoing calls here are back-channel logouts to clients registered from our own
 * configuration, and in development the app listens on loopback, so those calls go out unguarded.
 */
async function fetchAllowingLoopback(url: string | URL, options: RequestInit & { dispatcher?: unknown }): Promise<Response> {
  if (LOOPBACK_HOSTS.has(new URL(url).hostname)) {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return fetch(url, rest);
  }
  return fetch(url, options);
}

/**
 * Every client here is first-party, registered from configuration, so consent is implied: the
 * grant is completed with whatever the request asks for, and the consent prompt never shows.
 */
async function loadFirstPartyGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const { oidc } = ctx;
  const clientId = oidc.client?.clientId;
  const accountId = oidc.session?.accountId;
  if (!clientId || !accountId) return undefined;

  const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  // A grant of another account (the session changed user) is never reused.
  if (grant && grant.accountId !== accountId) grant = undefined;
  grant ??= new oidc.provider.Grant({ accountId, clientId });

  const oidcScopes = [...oidc.requestParamOIDCScopes];
  if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(' '));
  if (oidc.requestParamClaims.size > 0) grant.addOIDCClaims([...oidc.requestParamClaims]);
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers)) {
    const scopes = [...oidc.requestParamScopes].filter((scope) => resourceServer.scopes.has(scope));
    if (scopes.length > 0) grant.addResourceScope(indicator, scopes.join(' '));
  }
  await grant.save();
  return grant;
}

export function createProvider(setup: ProviderSetup): Provider {
  const { users } = setup;

  const configuration = {
    adapter: setup.store.adapter,
    clients: setup.clients.map(clientMetadata),
    jwks: { keys: setup.keys.signing },
    routes: ROUTES,
    scopes: [...SUPPORTED_SCOPES],
    claims: {
      ...Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
      // How the user signed in (src/dev-idp/second-step.ts) is in every ID token, as in Okta's.
      openid: [...SCOPE_CLAIMS.openid, 'acr', 'amr'],
    },
    acrValues: [...SUPPORTED_ACRS],
    responseTypes: ['code'],
    pkce: { required: () => true },

    async findAccount(_ctx: KoaContextWithOIDC, id: string): Promise<Account | undefined> {
      const user = users.findBySub(id);
      return user && { accountId: user.sub, claims: () => userClaims(user) };
    },

    interactions: {
      url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      policy: interactions(),
    },
    loadExistingGrant: loadFirstPartyGrant,

    cookies: {
      keys: setup.keys.cookies,
      // Cookies ignore ports: the app on localhost:8080 shares this jar, so the names say whose they are.
      names: {
        session: 'dev_idp_session',
        interaction: 'dev_idp_interaction',
        resume: 'dev_idp_interaction_resume',
      },
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },

    features: {
      devInteractions: { enabled: false },
      // DPoP as Okta has it: every proof at the token and PAR endpoints needs a server nonce, so a
      // client's first request gets use_dpop_nonce. The nonces need only outlive this process.
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      introspection: {
        enabled: true,
        // Confidential clients only (all clients here are); the explicit policy also keeps
        // oidc-provider from printing its "you should change this default" notice.
        allowedPolicy: async (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod !== 'none',
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => {
          if (token.clientId !== client.clientId) {
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx: KoaContextWithOIDC) {
          ctx.type = 'html';
          ctx.body = renderLogout({
            clientId: ctx.oidc.client?.clientId,
            action: ctx.oidc.urlFor('end_session_confirm'),
            xsrf: String(ctx.oidc.session?.state?.secret ?? ''),
            // Okta signs out at once when the app sends its ID token; oidc-provider has validated
            // the hint's signature and audience by now, so the confirmation submits itself.
            autoSubmit: ctx.oidc.entities['IdTokenHint'] !== undefined,
          });
        },
        async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
          ctx.type = 'html';
          ctx.body = renderSignedOut({ clientId: ctx.oidc.client?.clientId });
        },
      },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a `resource` parameter every token is for Okta's default audience, as at Okta.
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string[]) =>
          oneOf === undefined || oneOf.includes(API_AUDIENCE) ? API_AUDIENCE : oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx: unknown, indicator: string) {
          if (indicator !== API_AUDIENCE) throw new errors.InvalidTarget();
          return {
            scope: SUPPORTED_SCOPES.join(' '),
            audience: API_AUDIENCE,
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    // Okta's access tokens also carry cid, uid and scp; apps written against Okta read them. acr and amr
    // (RFC 9068's authentication claims) come from the sign-in behind the code or refresh token.
    async extraTokenClaims(ctx: KoaContextWithOIDC, token: { kind: string; clientId?: string; accountId?: string; scope?: string }) {
      if (token.kind !== 'AccessToken') return undefined;
      const source = (ctx.oidc.entities['AuthorizationCode'] ?? ctx.oidc.entities['RefreshToken']) as { acr?: string; amr?: string[] } | undefined;
      return {
        cid: token.clientId, uid: token.accountId, scp: token.scope?.split(' ') ?? [],
        ...(source?.acr ? { acr: source.acr } : {}), ...(source?.amr ? { amr: source.amr } : {}),
      };
    },

    async renderError(ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) {
      ctx.type = 'html';
      ctx.body = renderError({
        title: 'Request refused',
        message: out.error_description ?? 'The request could not be processed.',
        code: out.error,
      });
    },

    // Every lifetime explicit: oidc-provider prints a notice for each default it falls back to.
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: 14 * DAY,
      Grant: 14 * DAY,
      Session: 14 * DAY,
      Interaction: 60 * 60,
      ClientCredentials: 10 * 60,
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60,
    },
    clientBasedCORS: () => false,
    fetch: fetchAllowingLoopback,
  };

  const provider = new Provider(setup.issuer, configuration);
  // The development provider is reached directly, never through a proxy.
  provider.proxy = false;
  registerTokenExchange(provider, { issuer: setup.issuer, jwks: publicJwks(setup.keys), dpop: setup.dpop, tokenUrl: `${setup.issuer}${ROUTES.token}` });
  provider.on('server_error', (_ctx: unknown, error: unknown) => {
    console.error('[dev-idp] server error:', error);
  });
  return provider;
}
