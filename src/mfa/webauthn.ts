/**
 * Passkeys (WebAuthn Level 2), through @simplewebauthn/server: several per user, each named, in
 * mfa_webauthn, which this module owns with mfa_used_challenges. They are made discoverable and with
 * user verification, so each one can sign in alone; as a second factor, verification is preferred.
 * Every assertion's signature counter is checked and kept. The relying party is APP_URL: its host is
 * the RP ID, its origin the only origin accepted.
 */
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Db } from '../db/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { sha256Base64url } from '../digest.ts';

export interface WebauthnRp {
  /** The RP ID: APP_URL's host name. */
  readonly id: string;
  /** APP_URL's origin, the only one an answer may come from. */
  readonly origin: string;
  /** The site's name, shown by the browser when a passkey is made. */
  readonly name: string;
}

/**
 * The relying party for an app: its RP ID and origin from APP_URL.
 *
 * @example
 * webauthnRp('https://app.example.com', 'Example') // { id: 'app.example.com', origin: 'https://app.example.com', name: 'Example' }
 */
export function webauthnRp(appUrl: string, name: string): WebauthnRp {
  const url = new URL(appUrl);
  return { id: url.hostname, origin: url.origin, name };
}

export interface Passkey {
  id: number;
  name: string;
  created: number;
  lastUsed: number | null;
  /** Synced to other devices by its provider (the authenticator says so). */
  backedUp: boolean;
}

export type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON };

const transportsOf = (text: string): string[] => (text === '' ? [] : text.split(','));

/**
 * The options for the browser's navigator.credentials.create(): a discoverable credential with user
 * verification, not one the user already has. `options.user.id` is the user's WebAuthn handle
 * (the one of their passkeys, or a new random one), which addPasskey() must be given back.
 */
export async function registrationOptions(db: Db, rp: WebauthnRp, user: { id: number; username: string; displayName: string }):
Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = await db.selectFrom('mfa_webauthn').select(['credential_id', 'transports', 'user_handle'])
    .where('user_id', '=', user.id).orderBy('id').execute();
  // One handle per user, so an authenticator replaces its own passkey for the account instead of keeping two.
  const handle = existing[0]?.user_handle ?? randomBytes(32).toString('base64url');
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.username,
    userDisplayName: user.displayName,
    userID: new Uint8Array(Buffer.from(handle, 'base64url')),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credential_id, transports: transportsOf(c.transports) })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
}

/**
 * Verifies the browser's answer to registrationOptions() and keeps the passkey; returns its id, or
 * null when the answer is refused (wrong challenge, origin or RP ID, no user verification,
 * malformed) or the passkey is already registered.
 */
export async function addPasskey(db: Db, rp: WebauthnRp, input: {
  userId: number; name: string; userHandle: string; challenge: string; response: unknown;
}, now = Date.now()): Promise<number | null> {
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response: input.response as RegistrationResponseJSON,
      expectedChallenge: input.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch {
    return null;
  }
  if (!verified.verified) return null;
  const { credential, credentialBackedUp } = verified.registrationInfo;
  try {
    const row = await db.insertInto('mfa_webauthn').values({
      user_id: input.userId,
      name: input.name,
      credential_id: credential.id,
      public_key: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: (credential.transports ?? []).join(','),
      user_handle: input.userHandle,
      backed_up: credentialBackedUp ? 1 : 0,
      created: now,
      last_used: null,
    }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

/**
 * The options for navigator.credentials.get(). With `userId` (the second step of a sign-in): that
 * user's passkeys, user verification preferred. Without (signing in with a passkey alone): any
 * discoverable passkey of this site, user verification required.
 */
export async function authenticationOptions(db: Db, rp: WebauthnRp, userId?: number): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const allow = userId === undefined ? [] : await db.selectFrom('mfa_webauthn').select(['credential_id', 'transports'])
    .where('user_id', '=', userId).execute();
  return generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: allow.map((c) => ({ id: c.credential_id, transports: transportsOf(c.transports) })),
    userVerification: userId === undefined ? 'required' : 'preferred',
  });
}

/**
 * Verifies an assertion (the browser's answer to authenticationOptions()) against the stored
 * passkey, and keeps its new signature counter. Returns whose passkey it was, or null when refused:
 * unknown passkey, another user's (with `userId`), a user handle it was not made for, a bad
 * signature, challenge, origin or RP ID, no user verification when `requireUserVerification`, or a
 * counter that did not go up (a cloned authenticator).
 */
export async function verifyPasskey(db: Db, rp: WebauthnRp, input: {
  response: unknown; challenge: string; userId?: number; requireUserVerification: boolean;
}, now = Date.now()): Promise<{ userId: number; passkeyId: number; name: string } | null> {
  const response = input.response as Partial<AuthenticationResponseJSON> | null;
  if (typeof response?.id !== 'string' || response.id.length > 1400) return null;
  const row = await db.selectFrom('mfa_webauthn').selectAll().where('credential_id', '=', response.id).executeTakeFirst();
  if (!row || (input.userId !== undefined && row.user_id !== input.userId)) return null;
  const handle = response.response?.userHandle;
  if (handle !== undefined && handle !== row.user_handle) return null;
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: input.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: row.credential_id,
        publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64url')),
        counter: row.counter,
        transports: transportsOf(row.transports),
      },
      requireUserVerification: input.requireUserVerification,
    });
  } catch {
    return null;
  }
  if (!verified.verified) return null;
  const { newCounter, credentialBackedUp } = verified.authenticationInfo;
  // Compare-and-set: of two assertions racing with the same counter, one wins.
  const kept = await db.updateTable('mfa_webauthn').set({ counter: newCounter, last_used: now, backed_up: credentialBackedUp ? 1 : 0 })
    .where('id', '=', row.id).where('counter', '=', row.counter).executeTakeFirst();
  if (Number(kept.numUpdatedRows) !== 1) return null;
  return { userId: row.user_id, passkeyId: row.id, name: row.name };
}

/**
 * Records a passkey sign-in's challenge as answered, until `expires`: true the first time, false
 * for a replay (on any instance).
 */
export async function spendChallenge(db: Db, challenge: string, expires: number): Promise<boolean> {
  try {
    await db.insertInto('mfa_used_challenges').values({ id: sha256Base64url(challenge), expires }).execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

export async function pruneUsedChallenges(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('mfa_used_challenges').where('expires', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function listPasskeys(db: Db, userId: number): Promise<Passkey[]> {
  const rows = await db.selectFrom('mfa_webauthn').select(['id', 'name', 'created', 'last_used', 'backed_up'])
    .where('user_id', '=', userId).orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, created: r.created, lastUsed: r.last_used, backedUp: r.backed_up === 1 }));
}

/** Renames one of the user's passkeys; false when it is not theirs (or gone). */
export async function renamePasskey(db: Db, userId: number, id: number, name: string): Promise<boolean> {
  const result = await db.updateTable('mfa_webauthn').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Removes one of the user's passkeys; its name, or undefined when it is not theirs (or gone). */
export async function removePasskey(db: Db, userId: number, id: number): Promise<string | undefined> {
  const row = await db.deleteFrom('mfa_webauthn').where('id', '=', id).where('user_id', '=', userId).returning('name').executeTakeFirst();
  return row?.name;
}
