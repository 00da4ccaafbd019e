import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { errors } from 'oidc-provider';
import type { GrantContext, Provider, ResourceServerInfo } from 'oidc-provider';

import { API_AUDIENCE } from './clients.ts';
import type { DevDpop } from './dpop.ts';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** The other API of the demo, reached by token exchange: its tokens are opaque, checked by introspection. */
export const REPORTS_AUDIENCE = 'api://reports';

/** The APIs a token can be exchanged for, and their tokens. */
const AUDIENCES: Readonly<Record<string, ResourceServerInfo>> = {
  [REPORTS_AUDIENCE]: { scope: 'reports:read reports:write', audience: REPORTS_AUDIENCE, accessTokenFormat: 'opaque' },
};

export interface TokenExchangeOptions {
  issuer: string;
  /** The provider's public keys: the subject token is one of its own JWT access tokens. */
  jwks: { keys: JWK[] };
  /** A DPoP proof sent with the exchange binds the new token to its key (RFC 9449 §5). */
  dpop: DevDpop;
  /** The token endpoint's URL, which proofs name (htu). */
  tokenUrl: string;
}

/**
 * RFC 8693 token exchange, as Okta's custom authorization servers offer it: a client trades the
 * access token of a signed-in user (`subject_token`, issued here for api://default to that same
 * client) for one meant for another API (`audience`), with scopes that API has. oidc-provider has no
 * such grant of its own; this one is registered through its public `registerGrantType`, and mints
 * with its AccessToken model. With a DPoP proof the new token is bound to the proof's key, which must
 * be the subject token's key when that one is bound.
 */
export function registerTokenExchange(provider: Provider, options: TokenExchangeOptions): void {
  const keys = createLocalJWKSet(options.jwks);
  const algorithms = [...new Set(options.jwks.keys.map((key) => key.alg).filter((alg) => typeof alg === 'string'))];

  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx: GrantContext) => {
    const { params, client } = ctx.oidc;
    if (params['subject_token_type'] !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (params['requested_token_type'] !== undefined && params['requested_token_type'] !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    const audience = params['audience'];
    const server = audience === undefined ? undefined : AUDIENCES[audience];
    if (audience === undefined || server === undefined) throw new errors.InvalidTarget(`audience must be one of ${Object.keys(AUDIENCES).join(', ')}`);

    let subject;
    try {
      ({ payload: subject } = await jwtVerify(params['subject_token'] ?? '', keys, {
        issuer: options.issuer, audience: API_AUDIENCE, typ: 'at+jwt', algorithms, requiredClaims: ['sub', 'client_id', 'exp'],
      }));
    } catch {
      throw new errors.InvalidGrant('subject_token is not a valid access token of this provider');
    }
    if (subject['client_id'] !== client.clientId) throw new errors.InvalidGrant('subject_token was issued to another client');
    let jkt: string | undefined;
    const proof = ctx.get('DPoP');
    if (proof) {
      const checked = await options.dpop.check(proof, { method: 'POST', url: options.tokenUrl, nonce: false });
      if (!checked.ok) throw new errors.InvalidDpopProof(checked.description);
      jkt = checked.jkt;
    }
    const bound = (subject['cnf'] as { jkt?: unknown } | undefined)?.jkt;
    if (bound !== undefined && bound !== jkt) throw new errors.InvalidGrant('subject_token is DPoP-bound: prove possession of its key');

    const allowed = new Set(server.scope.split(' '));
    const asked = params['scope']?.split(' ').filter(Boolean) ?? [...allowed];
    const refused = asked.filter((scope) => !allowed.has(scope));
    if (refused.length > 0) throw new errors.InvalidScope(`${audience} has no scope ${refused.join(' ')}`, refused.join(' '));

    const token = new provider.AccessToken({ accountId: subject.sub!, client, scope: asked.join(' '), gty: 'token-exchange' });
    token.resourceServer = new provider.ResourceServer(audience, server);
    if (jkt) token.setThumbprint('jkt', jkt);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: token.expiration,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  }, ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope', 'actor_token', 'actor_token_type']);
}
