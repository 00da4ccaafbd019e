/**
 * Okta's Universal Logout: the receiver of a Global Token Revocation request
 * (draft-parecki-oauth-global-token-revocation; Okta's "Build Universal Logout for your app").
 * The provider POSTs the subject to log out, authenticated by a JWT it signed:
 *
 *   Authorization: Bearer <JWT: iss = the provider, aud = this endpoint, exp, iat, jti>
 *   {"sub_id": {"format": "iss_sub", "iss": "https://example.okta.com", "sub": "00u…"}}
 *
 * The JWT is verified with jose against the keys of UNIVERSAL_LOGOUT_ISSUER's discovery (the
 * provider's shared JWKS cache when that is a configured provider); its jti goes into the replay
 * cache of logout tokens (./logout-token.ts), so it is refused on every instance the second time.
 * Every session of the user ends, on every instance; the provider's refresh tokens lived in them.
 */
import { jwtVerify, decodeProtectedHeader, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { findVerifiedUsersByEmail } from '../accounts/users.ts';
import { findUserByExternalId } from '../accounts/directory.ts';
import { ASYMMETRIC_ALGORITHMS } from '../config/algorithms.ts';
import type { Db } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';
import { findIdentityUserId } from '../provisioning/identities.ts';
import { deleteUserSessions } from '../sessions/index.ts';
import { toJwtFailure, toSigningKeysError } from './errors.ts';
import { providerFetch } from './http.ts';
import type { RelyingParty } from './index.ts';
import { sameIssuer } from './issuer.ts';
import { JwksCache } from './jwks.ts';
import { recordTokenUse } from './logout-token.ts';

/** The path of the receiver, under APP_URL: also the `aud` its JWTs must carry. */
export const UNIVERSAL_LOGOUT_PATH = '/oauth/global-token-revocation';
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_FIELD_LENGTH = 1024;
/** A JWT is accepted at most this long after its iat, whatever its exp says. */
const MAX_AGE_SECONDS = 600;

/** Whom to log out (RFC 9493 subject identifier formats the draft and Okta use). */
export type RevocationSubject =
  | { format: 'iss_sub'; iss: string; sub: string }
  | { format: 'email'; email: string }
  | { format: 'opaque'; id: string };

const unauthorized = (message: string, cause?: unknown) =>
  new OidcConnectError('UNIVERSAL_LOGOUT_UNAUTHORIZED', `Universal Logout refused: ${message}`, cause === undefined ? undefined : { cause });
const malformed = (message: string) => new OidcConnectError('BAD_REQUEST', `Universal Logout request malformed: ${message}`);

const field = (value: unknown): value is string => typeof value === 'string' && value !== '' && value.length <= MAX_FIELD_LENGTH;

/** The subject of a request body: the draft's `sub_id`, or `subject` as Okta's guide shows it. BAD_REQUEST otherwise. */
export function readSubject(body: unknown): RevocationSubject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw malformed('the body must be a JSON object.');
  const record = body as Record<string, unknown>;
  const subject = record.sub_id ?? record.subject;
  if (typeof subject !== 'object' || subject === null || Array.isArray(subject)) throw malformed('it names no subject (sub_id).');
  const s = subject as Record<string, unknown>;
  switch (s.format) {
    case 'iss_sub':
      if (!field(s.iss) || !field(s.sub)) throw malformed('an iss_sub subject needs iss and sub.');
      return { format: 'iss_sub', iss: s.iss, sub: s.sub };
    case 'email':
      if (!field(s.email)) throw malformed('an email subject needs email.');
      return { format: 'email', email: s.email };
    case 'opaque':
      if (!field(s.id)) throw malformed('an opaque subject needs id.');
      return { format: 'opaque', id: s.id };
    default:
      throw malformed(`the subject format ${JSON.stringify(String(s.format).slice(0, 40))} is not iss_sub, email or opaque.`);
  }
}

/** The keys and exact issuer that sign Universal Logout requests. */
export interface RevocationIssuer {
  resolve(): Promise<{ issuer: string; keys: JWTVerifyGetKey }>;
}

/**
 * UNIVERSAL_LOGOUT_ISSUER's keys: a configured provider's own (discovery and JWKS cache shared with
 * sign-in), or for another issuer (Okta's org server next to a custom one) its own discovery.
 */
export function revocationIssuer(rp: RelyingParty, issuer: string, timeoutMs: number): RevocationIssuer {
  const provider = rp.providers.find((p) => sameIssuer(p.issuer, issuer));
  if (provider) {
    return {
      async resolve() {
        const client = rp.provider(provider.id);
        const metadata = await client.serverMetadata();
        return { issuer: metadata.issuer, keys: (await client.jwksCache()).getKey };
      },
    };
  }
  let resolved: Promise<{ issuer: string; keys: JWTVerifyGetKey }> | undefined;
  return {
    resolve() {
      resolved ??= (async () => {
        const response = await providerFetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { headers: { accept: 'application/json' }, timeoutMs, call: { issuer, endpoint: 'discovery' } });
        if (!response.ok) throw new Error(`discovery of ${issuer} answered HTTP ${response.status}`);
        const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
        if (typeof metadata.issuer !== 'string' || !sameIssuer(metadata.issuer, issuer)) throw new Error(`discovery of ${issuer} names another issuer (${String(metadata.issuer)})`);
        if (typeof metadata.jwks_uri !== 'string') throw new Error(`discovery of ${issuer} has no jwks_uri`);
        return { issuer: metadata.issuer, keys: new JwksCache(metadata.jwks_uri, timeoutMs, issuer).getKey };
      })();
      resolved.catch(() => (resolved = undefined)); // try again at the next request
      return resolved;
    },
  };
}

export interface RevocationCheck {
  readonly issuer: RevocationIssuer;
  /** `$APP_URL/oauth/global-token-revocation`. */
  readonly audience: string;
  readonly clockToleranceSeconds: number;
  /** Epoch ms; for tests. */
  readonly now?: number;
}

/**
 * Verifies the request's bearer JWT: asymmetric signature by the issuer's keys (alg none and shared
 * secrets refused), iss, aud, exp, iat, and a jti never seen before (recorded here). Throws
 * UNIVERSAL_LOGOUT_UNAUTHORIZED, or PROVIDER_* when the keys can't be had.
 */
export async function authenticateRevocation(db: Db, authorization: string | undefined, check: RevocationCheck): Promise<void> {
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization?.trim() ?? '');
  if (!match) throw unauthorized('send the provider\'s signed JWT as Authorization: Bearer.');
  const token = match[1]!;
  if (token.length > MAX_TOKEN_LENGTH) throw unauthorized('the token is too large.');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw unauthorized('the token is not a signed JWT.', error);
  }
  if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.includes(alg)) throw unauthorized(`the "${String(alg)}" algorithm is refused; only asymmetric signatures are accepted.`);
  let resolved: Awaited<ReturnType<RevocationIssuer['resolve']>>;
  try {
    resolved = await check.issuer.resolve();
  } catch (error) {
    throw toSigningKeysError(error, 'UNIVERSAL_LOGOUT_ISSUER');
  }
  const now = check.now ?? Date.now();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, resolved.keys, {
      issuer: resolved.issuer,
      audience: check.audience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: check.clockToleranceSeconds,
      currentDate: new Date(now),
      requiredClaims: ['exp', 'iat', 'jti'],
      maxTokenAge: MAX_AGE_SECONDS,
    }));
  } catch (error) {
    const failure = toJwtFailure(error, 'UNIVERSAL_LOGOUT_ISSUER');
    if (failure instanceof OidcConnectError) throw failure;
    const reason = failure.reason === 'claim' ? `the ${failure.claim} claim is not acceptable (${failure.detail})` : failure.reason === 'expired' ? 'it has expired' : `its signature does not verify (${failure.reason})`;
    throw unauthorized(`${reason}.`, error);
  }
  if (payload.iat! > Math.floor(now / 1000) + check.clockToleranceSeconds) throw unauthorized('it was issued in the future (iat).');
  if (!field(payload.jti)) throw unauthorized('the jti claim is missing.');
  const until = (payload.exp! + check.clockToleranceSeconds + 1) * 1000;
  if (!await recordTokenUse(db, resolved.issuer, payload.jti, 'universal-logout', until)) throw unauthorized('the token was used already (jti).');
}

/**
 * The users a subject names: iss_sub by the identity (issuer, sub) at any configured provider of
 * that issuer or its origin (Okta's org server names users by the same id as its custom servers);
 * email by the verified address; opaque by the SCIM externalId.
 */
export async function subjectUsers(db: Db, rp: RelyingParty, subject: RevocationSubject): Promise<number[]> {
  switch (subject.format) {
    case 'iss_sub': {
      const ids = new Set<number>();
      let origin: string | undefined;
      try {
        origin = new URL(subject.iss).origin;
      } catch {
        throw malformed('iss is not a URL.');
      }
      for (const provider of rp.providers) {
        if (!sameIssuer(provider.issuer, subject.iss) && new URL(provider.issuer).origin !== origin) continue;
        const id = await findIdentityUserId(db, provider.issuer, subject.sub);
        if (id !== undefined) ids.add(id);
      }
      return [...ids];
    }
    case 'email':
      return (await findVerifiedUsersByEmail(db, subject.email, 10)).map((u) => u.id);
    case 'opaque': {
      const user = await findUserByExternalId(db, subject.id);
      return user ? [user.id] : [];
    }
  }
}

/** Ends every session of these users in one transaction; returns how many ended. */
export async function revokeUsers(db: Db, userIds: readonly number[]): Promise<number> {
  return db.transaction().execute(async (trx) => {
    let ended = 0;
    for (const id of userIds) ended += await deleteUserSessions(trx, id);
    return ended;
  });
}
