/**
 * Authenticator apps (TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps, as every app reads them),
 * through otplib. One per user, in mfa_totp, which this module owns. The secret is sealed at rest
 * (src/sealed.ts). A code is accepted one step before or after the server's clock, and works once:
 * the step it was accepted for is kept, and only a later step's code passes after it, a rule the
 * database enforces so that two instances can't both take one code.
 */
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Db } from '../db/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Sealer } from '../sealed.ts';

/** RFC 6238's time step, in seconds. */
export const TOTP_PERIOD = 30;
/** Clock skew allowed, in seconds: one step either way. */
const TOLERANCE = TOTP_PERIOD;
const CODE = /^\d{6}$/;

/** A new secret: 20 random bytes (RFC 4226's recommended 160 bits), in base32 as apps take it. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/**
 * The `otpauth://` URI an app scans, as django-allauth builds it: the account as label, the site as issuer.
 *
 * @example
 * totpUri('JBSWY3DPEHPK3PXP', { issuer: 'oidc-connect', label: 'alice' })
 */
export function totpUri(secret: string, names: { issuer: string; label: string }): string {
  return generateURI({ issuer: names.issuer, label: names.label, secret });
}

/** The URI as a QR code: an SVG image in a data: URI, for an `<img>` (the pages' CSP allows data: images). */
export async function qrCodeDataUri(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** A code as typed: spaces (apps show "123 456") go. */
export function normalizeTotpCode(code: string): string {
  return code.replace(/\s+/g, '');
}

export function isTotpCode(code: string): boolean {
  return CODE.test(normalizeTotpCode(code));
}

/**
 * The time step `code` was made for, when it is right for `secret` within one step of `now` and
 * later than `afterStep`; else null.
 */
export async function totpStep(secret: string, code: string, options: { afterStep?: number; now?: number } = {}): Promise<number | null> {
  const token = normalizeTotpCode(code);
  if (!CODE.test(token)) return null;
  const result = await verify({
    secret,
    token,
    epoch: Math.floor((options.now ?? Date.now()) / 1000),
    epochTolerance: TOLERANCE,
    ...(options.afterStep === undefined ? {} : { afterTimeStep: options.afterStep }),
  });
  // A TOTP result carries its step (an HOTP one, of the same union type, does not).
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

/**
 * Turns on a user's authenticator app with `secret`, once its first code was right (`step`, which
 * may not be used again). False when the user already has one.
 */
export async function activateTotp(db: Db, box: Sealer, userId: number, secret: string, step: number, now = Date.now()): Promise<boolean> {
  try {
    await db.insertInto('mfa_totp').values({ user_id: userId, secret: await box.seal(secret), last_step: step, created: now, last_used: null }).execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

/**
 * Checks a code against the user's authenticator app, and spends its step: true once per step.
 * False for a wrong code, a code of a step already used (or earlier), no app, or a secret that
 * no longer opens (MFA_ENCRYPTION_KEY or SESSION_SECRET changed).
 */
export async function useTotpCode(db: Db, box: Sealer, userId: number, code: string, now = Date.now()): Promise<boolean> {
  if (!isTotpCode(code)) return false;
  const row = await db.selectFrom('mfa_totp').select(['secret', 'last_step']).where('user_id', '=', userId).executeTakeFirst();
  if (!row) return false;
  const secret = await box.open(row.secret);
  if (secret === undefined) return false;
  const step = await totpStep(secret, code, { afterStep: row.last_step, now });
  if (step === null) return false;
  // The step is taken only if no other request (here or on another instance) took it or a later one first.
  const taken = await db.updateTable('mfa_totp').set({ last_step: step, last_used: now })
    .where('user_id', '=', userId).where('last_step', '<', step).executeTakeFirst();
  return Number(taken.numUpdatedRows) === 1;
}

export async function totpOf(db: Db, userId: number): Promise<{ created: number; lastUsed: number | null } | undefined> {
  const row = await db.selectFrom('mfa_totp').select(['created', 'last_used']).where('user_id', '=', userId).executeTakeFirst();
  return row && { created: row.created, lastUsed: row.last_used };
}

/** Turns the app off; false when there was none. */
export async function deleteTotp(db: Db, userId: number): Promise<boolean> {
  const result = await db.deleteFrom('mfa_totp').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
