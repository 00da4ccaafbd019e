/** Okta's default authorization server issues access tokens for this audience. */
export const API_AUDIENCE = 'api://default';

/** How a client may authenticate here, as OIDC_RP_TOKEN_AUTH_METHOD names them. */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** A client the development provider knows from configuration (there is no dynamic registration). */
export interface ClientRegistration {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  backchannel_logout_uri?: string;
  /** Default client_secret_basic (which oidc-provider lets a client send with post too). */
  token_endpoint_auth_method?: ClientAuthMethod;
  /** Where the client's public keys are fetched, for private_key_jwt. */
  jwks_uri?: string;
}

/**
 * The app's client, with the routes the app serves under its public base URL (DESIGN.md). With
 * private_key_jwt its keys are fetched from the app's /.well-known/jwks.json, as Okta can.
 */
export function appClient(appUrl: string, clientId: string, clientSecret: string, authMethod: ClientAuthMethod = 'client_secret_basic'): ClientRegistration {
  return {
    client_id: clientId,
    client_secret: clientSecret,
    // The app answers its callback with and without a trailing slash, so both are registered.
    redirect_uris: [`${appUrl}/authorization-code/callback`, `${appUrl}/authorization-code/callback/`],
    post_logout_redirect_uris: [`${appUrl}/signout/callback`],
    backchannel_logout_uri: `${appUrl}/oidc/backchannel-logout`,
    token_endpoint_auth_method: authMethod,
    ...(authMethod === 'private_key_jwt' ? { jwks_uri: `${appUrl}/.well-known/jwks.json` } : {}),
  };
}

/** oidc-provider client metadata: a confidential web client on the code flow, as an Okta "Web" app. */
export function clientMetadata(registration: ClientRegistration): Record<string, unknown> {
  return {
    client_id: registration.client_id,
    client_secret: registration.client_secret,
    redirect_uris: registration.redirect_uris,
    post_logout_redirect_uris: registration.post_logout_redirect_uris ?? [],
    application_type: 'web',
    // Token exchange as Okta's custom servers offer it (RFC 8693; ./token-exchange.ts).
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    response_types: ['code'],
    // oidc-provider accepts client_secret_post as well from a client registered for client_secret_basic.
    token_endpoint_auth_method: registration.token_endpoint_auth_method ?? 'client_secret_basic',
    ...(registration.jwks_uri === undefined ? {} : { jwks_uri: registration.jwks_uri }),
    id_token_signed_response_alg: 'RS256',
    ...(registration.backchannel_logout_uri === undefined ? {} : {
      backchannel_logout_uri: registration.backchannel_logout_uri,
      backchannel_logout_session_required: true,
    }),
  };
}
