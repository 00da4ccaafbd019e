/**
 * How the client proves who it is wherever it does (token, PAR, introspection, revocation): the
 * client secret (Basic, post, or an HS256 client_secret_jwt), or an assertion signed with a key of
 * OIDC_RP_PRIVATE_KEY (private_key_jwt). openid-client builds and signs the assertions; this module
 * picks the key, its kid and its algorithm, and gives the public keys to publish.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK, type JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import type { ClientKey, ClientKeyAlgorithm, ProviderConfig, TokenAuthMethod } from '../config/index.ts';
import { OidcConnectError } from '../errors.ts';

/** The key a provider's assertions are signed with, ready for openid-client. */
interface SigningKey {
  alg: ClientKeyAlgorithm;
  kid: string;
  key: CryptoKey;
}

/** The public half of a private JWK (RSA, EC, OKP), with the members RFC 7517 gives it; node:crypto derives it. */
export function publicJwkOf(jwk: ClientKey['jwk'] | JWK): JWK {
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'jwk' }) as JWK;
}

/** A key's kid: its own, or its RFC 7638 thumbprint (what `oidc-connect keygen` prints), by jose. */
export async function kidOf(key: ClientKey): Promise<string> {
  return key.kid ?? calculateJwkThumbprint(publicJwkOf(key.jwk));
}

/**
 * The algorithm a key signs with: its JWK's own `alg`; ES256 for EC; for RSA, RS256 unless the
 * provider's metadata allows PS256 and not RS256.
 */
export function signingAlgorithm(key: ClientKey, allowed: readonly string[] | undefined): ClientKeyAlgorithm {
  if (key.alg) return key.alg;
  if (key.jwk.kty === 'EC') return 'ES256';
  return allowed && allowed.includes('PS256') && !allowed.includes('RS256') ? 'PS256' : 'RS256';
}

export class ClientCredentials {
  readonly #config: ProviderConfig;
  #signing: Promise<SigningKey> | undefined;
  #published: Promise<JWK[]> | undefined;

  constructor(config: ProviderConfig) {
    this.#config = config;
  }

  /** openid-client's ClientAuth for `method`, the metadata deciding an RSA key's algorithm. */
  async clientAuth(method: TokenAuthMethod, metadata: client.ServerMetadata): Promise<client.ClientAuth> {
    const secret = this.#config.clientSecret;
    switch (method) {
      case 'client_secret_basic': return client.ClientSecretBasic(secret);
      case 'client_secret_post': return client.ClientSecretPost(secret);
      case 'client_secret_jwt': return client.ClientSecretJwt(secret);
      case 'private_key_jwt': {
        const { key, kid } = await this.#signingKey(metadata);
        return client.PrivateKeyJwt({ key, kid });
      }
    }
  }

  /** The algorithm private_key_jwt assertions are signed with here (for `check`). */
  async assertionAlgorithm(metadata: client.ServerMetadata): Promise<ClientKeyAlgorithm> {
    return (await this.#signingKey(metadata)).alg;
  }

  /** Every key's public half with its kid, for /.well-known/jwks.json; empty without keys. */
  publicKeys(): Promise<JWK[]> {
    this.#published ??= publishedKeys(this.#config.privateKeys ?? []);
    return this.#published;
  }

  /** Imported once (its algorithm needs the provider's metadata, which does not change). */
  #signingKey(metadata: client.ServerMetadata): Promise<SigningKey> {
    this.#signing ??= (async () => {
      const first = this.#config.privateKeys?.[0];
      if (!first) {
        throw new OidcConnectError('CONFIG_INVALID', `${this.#config.name}: private_key_jwt needs a key; set OIDC_RP_PRIVATE_KEY (npx oidc-connect keygen makes one).`);
      }
      const alg = signingAlgorithm(first, metadata.token_endpoint_auth_signing_alg_values_supported);
      const key = await importJWK(first.jwk as JWK, alg);
      return { alg, kid: await kidOf(first), key: key as CryptoKey };
    })();
    this.#signing.catch(() => { this.#signing = undefined; });
    return this.#signing;
  }
}

/**
 * Keys as the app publishes them (and `keygen` prints them): public half, kid, `use`, and the alg when
 * it is fixed. An RSA key without an alg of its own signs RS256 or PS256, as the provider allows.
 */
export function publishedKeys(keys: readonly ClientKey[]): Promise<JWK[]> {
  return Promise.all(keys.map(async (key) => {
    const alg = key.alg ?? (key.jwk.kty === 'EC' ? 'ES256' : undefined);
    return { ...publicJwkOf(key.jwk), kid: await kidOf(key), use: 'sig', ...(alg ? { alg } : {}) };
  }));
}

/** Several providers' public keys as one set, each kid once. */
export function keySet(keys: readonly JWK[][]): JSONWebKeySet {
  const seen = new Set<string>();
  return { keys: keys.flat().filter((key) => !seen.has(key.kid!) && seen.add(key.kid!)) };
}
