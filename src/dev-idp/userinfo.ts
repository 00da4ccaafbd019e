import type { IncomingMessage, ServerResponse } from 'node:http';

import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JWK } from 'jose';

import { claimsForScopes } from './claims.ts';
import type { UserDirectory } from './demo-users.ts';
import type { DevDpop } from './dpop.ts';
import { sendJson } from './http.ts';

export interface UserinfoOptions {
  issuer: string;
  /** This endpoint's URL, which DPoP proofs name (htu). */
  url: string;
  audience: string;
  jwks: { keys: JWK[] };
  users: UserDirectory;
  clientIds: ReadonlySet<string>;
  dpop: DevDpop;
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * `/v1/userinfo` for the JWT access tokens (aud `api://default`) this provider issues.
 *
 * Okta's default authorization server accepts its own `api://default` access tokens at userinfo,
 * and relying parties rely on that. oidc-provider does not, by design: it never stores JWT access
 * tokens, so its userinfo cannot look them up (panva/node-oidc-provider#1127), and it refuses any
 * token that has an audience ("token audience prevents accessing the userinfo endpoint"). Rather
 * than patch its internals, this handler answers such requests itself: it verifies the token with
 * the provider's own public keys (signature, `typ` at+jwt, issuer, audience, expiry), requires
 * the `openid` scope, and releases the claims of the token's scopes, with the same scope-to-claims
 * table the ID token uses. Anything that is not a bearer JWT goes on to oidc-provider unchanged.
 *
 * Like a resource server (and Okta), it trusts a valid token until it expires; the tokens live
 * for an hour. A signed-out grant is enforced where it matters, at the token endpoint.
 *
 * A DPoP-bound token (cnf.jkt) is taken only with the DPoP scheme and a proof of its key for this
 * request (RFC 9449 §7), with a nonce of ours (§9): a first proof without one gets
 * `use_dpop_nonce` and a DPoP-Nonce header, as Okta answers.
 *
 * Returns false when the request is not ours to answer.
 */
export function createUserinfoHandler(options: UserinfoOptions) {
  const keys = createLocalJWKSet(options.jwks);
  const algorithms = [...new Set(options.jwks.keys.map((key) => key.alg).filter((alg) => typeof alg === 'string'))];
  const realm = `realm="${options.issuer}"`;

  function refuse(res: ServerResponse, status: number, error: string, description: string, scheme = 'Bearer', headers: Record<string, string> = {}): void {
    // Both values are our own constants: nothing from the request reaches the header.
    sendJson(res, status, { error, error_description: description }, {
      'WWW-Authenticate': `${scheme} ${realm}, error="${error}", error_description="${description}"`,
      ...headers,
    });
  }

  return async function handleUserinfo(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (req.method !== 'GET' && req.method !== 'POST') return false;
    const [scheme, token, ...rest] = (req.headers.authorization ?? '').split(' ');
    const dpop = scheme?.toLowerCase() === 'dpop';
    if ((scheme?.toLowerCase() !== 'bearer' && !dpop) || !token || rest.length > 0 || !JWS_COMPACT.test(token)) return false;

    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms,
        requiredClaims: ['sub', 'exp', 'client_id'],
      }));
    } catch {
      refuse(res, 401, 'invalid_token', 'invalid token provided');
      return true;
    }

    const jkt = (payload['cnf'] as { jkt?: unknown } | undefined)?.jkt;
    if (!dpop && jkt !== undefined) {
      refuse(res, 401, 'invalid_token', 'a DPoP-bound token needs the DPoP scheme and a proof');
      return true;
    }
    if (dpop) {
      const proof = await options.dpop.check(typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined, { method: req.method, url: options.url, accessToken: token, nonce: true });
      if (!proof.ok) {
        if (proof.nonce) refuse(res, 401, 'use_dpop_nonce', 'a DPoP nonce is required', 'DPoP', { 'DPoP-Nonce': proof.nonce });
        else refuse(res, 401, 'invalid_dpop_proof', 'invalid DPoP proof', 'DPoP');
        return true;
      }
      if (jkt === undefined || proof.jkt !== jkt) {
        refuse(res, 401, 'invalid_token', 'the token is not bound to the key of this DPoP proof', 'DPoP');
        return true;
      }
    }

    const scopes = new Set(typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : []);
    if (!scopes.has('openid')) {
      refuse(res, 403, 'insufficient_scope', 'access token missing openid scope');
      return true;
    }
    const clientId = payload['client_id'];
    const user = payload.sub === undefined ? undefined : options.users.findBySub(payload.sub);
    if (typeof clientId !== 'string' || !options.clientIds.has(clientId) || !user) {
      refuse(res, 401, 'invalid_token', 'invalid token provided');
      return true;
    }

    sendJson(res, 200, claimsForScopes(user, scopes));
    return true;
  };
}
