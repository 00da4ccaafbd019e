/**
 * The client side of DPoP (RFC 9449, OIDC_DPOP): each sign-in makes its own key pair, which becomes
 * its session's, kept as a private JWK (sealed, with the tokens) so that any instance can prove
 * possession of it. openid-client makes the proofs of the requests it sends (PAR, token, refresh,
 * userinfo, exchange) and handles the provider's nonces; `dpopProof` makes them for the app's own
 * downstream calls. jose generates, imports and signs; nothing here is written by hand.
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import { sha256Base64url } from '../digest.ts';
import { publicJwkOf } from './client-auth.ts';

/** What we sign proofs with, in order of preference: ES256 first (RFC 9449 and Okta's default). */
const PREFERRED = ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'] as const;

/** The algorithm for this provider's proofs: the first of ours it lists; undefined when it lists none of them (or none at all). */
export function dpopAlgorithm(metadata: client.ServerMetadata): string | undefined {
  const listed = metadata.dpop_signing_alg_values_supported;
  return listed ? PREFERRED.find((alg) => listed.includes(alg)) : undefined;
}

/** A new key pair for one sign-in: its private JWK (which holds the public one), with its alg. */
export async function newDpopKey(alg: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg };
}

const imported = new WeakMap<JWK, Promise<client.CryptoKeyPair>>();

/** The key pair of a private JWK, imported once per JWK object (an opened session's tokens keep theirs). */
export function dpopKeyPair(jwk: JWK): Promise<client.CryptoKeyPair> {
  let pair = imported.get(jwk);
  if (pair === undefined) {
    pair = Promise.all([importJWK(jwk, jwk.alg), importJWK(publicJwkOf(jwk), jwk.alg)])
      .then(([privateKey, publicKey]) => ({ privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey }));
    imported.set(jwk, pair);
  }
  return pair;
}

/**
 * openid-client's DPoP handle for a key. A handle keeps the nonces the provider gave, so one is kept
 * per key for a while: a sign-in's token request then sends the nonce its pushed request got, and a
 * session's refresh the one its last request got, instead of each being refused once for want of it.
 * (The handle reads only the clock skew from the Configuration, the same in every one.)
 */
export async function dpopHandle(configuration: client.Configuration, jwk: JWK): Promise<client.DPoPHandle> {
  const id = `${jwk.kty}:${jwk.crv ?? ''}:${jwk.x ?? jwk.n}`;
  let handle = handles.get(id);
  if (handle === undefined) {
    handle = client.getDPoPHandle(configuration, await dpopKeyPair(jwk));
    handles.set(id, handle);
  }
  return handle;
}

/** Logins in flight and recently active sessions; a handle dropped costs one nonce round trip. */
const handles = new LRUCache<string, client.DPoPHandle>({ max: 10_000, ttl: 10 * 60_000 });

/**
 * A DPoP proof (RFC 9449 §4.2) for a request to `url` with `method`, made with the session's key:
 * `htu` without query and fragment, `ath` for the access token it goes with, and the server's
 * `nonce` when it asked for one.
 */
export async function dpopProof(jwk: JWK, request: { method: string; url: string | URL; accessToken?: string; nonce?: string }): Promise<string> {
  const url = new URL(request.url);
  const { privateKey } = await dpopKeyPair(jwk);
  return new SignJWT({
    htm: request.method,
    htu: `${url.origin}${url.pathname}`,
    jti: randomBytes(16).toString('base64url'),
    ...(request.accessToken !== undefined ? { ath: sha256Base64url(request.accessToken) } : {}),
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
  })
    .setProtectedHeader({ alg: jwk.alg!, typ: 'dpop+jwt', jwk: publicJwkOf(jwk) })
    .setIssuedAt()
    .sign(privateKey);
}
