/**
 * OpenID Connect Back-Channel Logout 1.0, section 2.6: validating a Logout Token, and ending the
 * sessions it names. Every JWT step goes through jose; this file only adds the rules jose does not
 * know (events, sid/sub, nonce, the iat window, jti replay).
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Db } from '../db/index.ts';
import { sha256Base64url } from '../digest.ts';
import { OidcConnectError } from '../errors.ts';
import { findIdentityUserId } from '../provisioning/identities.ts';
import { endProviderSessions } from '../sessions/index.ts';
import { toJwtFailure, toSigningKeysError, type JwtRefusal } from './errors.ts';
import type { RelyingParty } from './index.ts';
import { sameIssuer } from './issuer.ts';
import { ASYMMETRIC_ALGORITHMS } from '../config/algorithms.ts';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';


/** A token without `exp` is accepted for this long after its `iat` (the spec recommends two minutes' validity). */
export const DEFAULT_MAX_AGE_SECONDS = 300;
/** A logout token is a few hundred bytes; anything this large is not one. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_CLAIM_LENGTH = 1024;
/** `typ` header values accepted, compared case-insensitively (RFC 7515 4.1.9 allows the "application/" prefix). */
const ACCEPTED_TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt', 'application/jwt']);

/** One provider that may send logout tokens to us. */
export interface LogoutTokenIssuer {
  /** Provider id, as stored in sessions.provider. */
  readonly id: string;
  /** The configured issuer, as stored in identities.issuer. */
  readonly issuer: string;
  readonly clientId: string;
  /** Discovery's result: the exact issuer to compare `iss` with, the keys, and the allowed algorithms. */
  resolve(): Promise<{ issuer: string; keys: JWTVerifyGetKey; algorithms?: readonly string[] }>;
}

export interface LogoutTokenOptions {
  readonly issuers: readonly LogoutTokenIssuer[];
  readonly clockToleranceSeconds: number;
  /** Only for tokens without `exp`; default DEFAULT_MAX_AGE_SECONDS. */
  readonly maxAgeSeconds?: number;
  /** Epoch ms; for tests. */
  readonly now?: number;
}

/** A logout token that passed every stateless check (the jti is not consumed yet). */
export interface LogoutToken {
  readonly provider: string;
  /** The configured issuer (identities are stored under it). */
  readonly issuer: string;
  readonly jti: string;
  readonly sid?: string;
  readonly sub?: string;
  /** Epoch ms after which the token fails the time checks, so its replay-cache row may go. */
  readonly replayUntil: number;
}

function invalid(message: string, cause?: unknown): OidcConnectError {
  return new OidcConnectError('BAD_REQUEST', `Invalid logout token: ${message}`, cause === undefined ? undefined : { cause });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(payload: JWTPayload, claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > MAX_CLAIM_LENGTH) throw invalid(`the ${claim} claim must be a non-empty string.`);
  return value;
}

function refusalMessage(refusal: JwtRefusal, alg: unknown): string {
  switch (refusal.reason) {
    case 'claim': return `the ${refusal.claim} claim is not acceptable (${refusal.detail}).`;
    case 'expired': return 'it has expired (exp).';
    case 'signature': return 'its signature does not verify.';
    case 'unknown-key': case 'ambiguous-key': return 'no single key of the provider matches its signature.';
    case 'algorithm': return `the "${String(alg)}" algorithm is not allowed for this provider.`;
    case 'malformed': return 'it could not be verified.';
  }
}

/**
 * Validates a logout token (Back-Channel Logout 1.0, 2.6 steps 1-6, without the jti replay check,
 * which consumeLogoutToken does together with ending the sessions). Throws OidcConnectError
 * BAD_REQUEST for a token we refuse, or a PROVIDER_* error when the provider's keys can't be had.
 */
export async function verifyLogoutToken(token: unknown, options: LogoutTokenOptions): Promise<LogoutToken> {
  if (typeof token !== 'string' || token === '') throw invalid('the logout_token parameter is missing (or repeated).');
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('it is too large.');

  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token); // also refuses JWE (five parts): encrypted logout tokens are not supported
  } catch (error) {
    throw invalid('it is not a signed JWT.', error);
  }
  if (typeof header.alg !== 'string' || !ASYMMETRIC_ALGORITHMS.includes(header.alg)) {
    throw invalid(`the "${String(header.alg)}" algorithm is refused; only asymmetric signatures are accepted.`);
  }
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCEPTED_TYPES.has(header.typ.toLowerCase()))) {
    throw invalid(`the "${String(header.typ)}" typ header is not logout+jwt.`);
  }

  // The provider is found by the (unverified) iss and aud; the signature check below then binds them.
  if (typeof unverified.iss !== 'string') throw invalid('the iss claim is missing.');
  const iss = unverified.iss;
  const byIssuer = options.issuers.filter((i) => sameIssuer(i.issuer, iss));
  if (byIssuer.length === 0) throw invalid('its issuer is not a configured provider.');
  const audiences = typeof unverified.aud === 'string' ? [unverified.aud] : Array.isArray(unverified.aud) ? unverified.aud : [];
  const target = byIssuer.find((i) => audiences.includes(i.clientId));
  if (!target) throw invalid('its audience (aud) is not this client.');

  let resolved: Awaited<ReturnType<LogoutTokenIssuer['resolve']>>;
  try {
    resolved = await target.resolve();
  } catch (error) {
    throw toSigningKeysError(error, target.id);
  }
  const algorithms = (resolved.algorithms ?? ASYMMETRIC_ALGORITHMS).filter((alg) => ASYMMETRIC_ALGORITHMS.includes(alg));
  const now = options.now ?? Date.now();
  const tolerance = options.clockToleranceSeconds;

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, resolved.keys, {
      issuer: resolved.issuer,
      audience: target.clientId,
      algorithms: algorithms.length > 0 ? algorithms : [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: tolerance,
      currentDate: new Date(now),
      requiredClaims: ['iat'],
    }));
  } catch (error) {
    const failure = toJwtFailure(error, target.id);
    throw failure instanceof OidcConnectError ? failure : invalid(refusalMessage(failure, header.alg), error);
  }

  // iat: present (jose required it and checked it is a number), not in the future, and, without exp, recent.
  const iat = payload.iat!;
  const nowSeconds = Math.floor(now / 1000);
  if (iat > nowSeconds + tolerance) throw invalid('it was issued in the future (iat). Check the clocks.');
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  if (payload.exp === undefined && nowSeconds - iat > maxAge + tolerance) throw invalid('it is too old (iat) and has no exp.');

  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > MAX_CLAIM_LENGTH) throw invalid('the jti claim is missing.');
  if (!isObject(payload.events)) throw invalid('the events claim is missing or not an object.');
  if (!isObject(payload.events[BACKCHANNEL_LOGOUT_EVENT])) throw invalid(`the events claim has no ${BACKCHANNEL_LOGOUT_EVENT} member.`);
  if ('nonce' in payload) throw invalid('it carries a nonce, so it may be an ID token.');
  const sid = optionalString(payload, 'sid');
  const sub = optionalString(payload, 'sub');
  if (sid === undefined && sub === undefined) throw invalid('it names neither a session (sid) nor a subject (sub).');

  const lastValid = payload.exp !== undefined ? payload.exp : iat + maxAge;
  return {
    provider: target.id,
    issuer: target.issuer,
    jti: payload.jti,
    ...(sid !== undefined ? { sid } : {}),
    ...(sub !== undefined ? { sub } : {}),
    replayUntil: (lastValid + tolerance + 1) * 1000,
  };
}

/** The replay-cache key: fixed width, whatever the provider's jti looks like. */
function replayKey(issuer: string, jti: string): string {
  return sha256Base64url(`${issuer}\n${jti}`);
}

/**
 * Records the token's jti and ends the sessions it names, in one transaction: a replayed jti (on
 * any instance sharing the database) is refused, and a failure leaves neither half done.
 * With `sid`, the sessions of that provider session; otherwise every session of the user linked
 * to (issuer, sub) that came from this provider. Returns how many sessions ended.
 */
export async function consumeLogoutToken(db: Db, token: LogoutToken): Promise<number> {
  return db.transaction().execute(async (trx) => {
    if (!await recordTokenUse(trx, token.issuer, token.jti, token.provider, token.replayUntil)) throw invalid('it was already used (jti).');

    if (token.sid !== undefined) return endProviderSessions(trx, token.provider, { sid: token.sid });
    const userId = await findIdentityUserId(trx, token.issuer, token.sub!);
    return userId === undefined ? 0 : endProviderSessions(trx, token.provider, { userId });
  });
}

/**
 * Records that a signed token (issuer, jti) was used, until `until` (epoch ms) when its time checks
 * would refuse it anyway; false when it was recorded already, on any instance sharing the database.
 * The replay cache of logout tokens and of Universal Logout's bearer JWTs (./universal-logout.ts).
 */
export async function recordTokenUse(db: Db, issuer: string, jti: string, provider: string, until: number): Promise<boolean> {
  const recorded = await db
    .insertInto('logout_tokens')
    .values({ id: replayKey(issuer, jti), provider, expires: until })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(recorded.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Forgets jtis whose tokens would fail the time checks anyway. */
export async function pruneLogoutTokens(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('logout_tokens').where('expires', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Every configured provider as a logout-token issuer, keyed by the provider's shared JWKS cache. */
export function logoutTokenIssuers(rp: RelyingParty): LogoutTokenIssuer[] {
  return rp.providers.map((config) => ({
    id: config.id,
    issuer: config.issuer,
    clientId: config.clientId,
    async resolve() {
      const provider = rp.provider(config.id);
      const metadata = await provider.serverMetadata();
      const cache = await provider.jwksCache();
      return {
        issuer: metadata.issuer,
        keys: cache.getKey,
        ...(metadata.id_token_signing_alg_values_supported ? { algorithms: metadata.id_token_signing_alg_values_supported } : {}),
      };
    },
  }));
}
