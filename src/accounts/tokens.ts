/**
 * One-time links without stored state: Django's PasswordResetTokenGenerator
 * (django/contrib/auth/tokens.py), with its token format, `<timestamp base36>-<32 hex>`, where the hex
 * is every other character of an HMAC-SHA256 over the user's id, some of their state and the
 * timestamp. The state is what a use of the link changes (the password hash, the last login, the
 * email's verification), so a used link stops working by itself: nothing is stored, so nothing can
 * leak from the database. Links older than their timeout are refused, and the HMAC is compared in
 * constant time.
 *
 * The key is derived from SESSION_SECRET with a purpose of its own for each kind of link, so one
 * kind never passes for another, and rotating SESSION_SECRET invalidates every link sent before.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { User } from '../db/schema.ts';

/** Django's epoch for these timestamps: 2001-01-01, here in UTC. */
const EPOCH_2001_MS = Date.UTC(2001, 0, 1);
/** Django reads at most 13 base36 digits, so a huge number can't cost time. */
const MAX_TIMESTAMP_DIGITS = 13;

export interface OneTimeLinks {
  /** A token for `user` now. */
  make(user: User, now?: number): string;
  /** Whether `token` was made for `user` as they are now, less than the timeout ago. */
  check(user: User, token: string, now?: number): boolean;
}

/** What each kind of link signs besides the timestamp; a use of the link changes it. */
type HashValue = (user: User, timestamp: number) => string;

/**
 * Django's `_make_hash_value`: id, password hash, last login (to the second, UTC, as Python prints
 * it) and email. A new password or a sign-in ends the link.
 */
const passwordResetValue: HashValue = (user, timestamp) =>
  `${user.id}${user.password ?? ''}${user.last_login === null ? '' : pythonDateTime(user.last_login)}${timestamp}${user.email}`;

/** A verification link ends once the email is verified, or changed. */
const emailVerificationValue: HashValue = (user, timestamp) => `${user.id}${user.email}${user.email_verified}${timestamp}`;

/**
 * Password reset links (Django's key salt, so the tokens are the ones Django makes for the same
 * secret), valid for PASSWORD_RESET_TIMEOUT seconds.
 *
 * @example
 * const links = passwordResetTokens(config.sessionSecret, config.mail.passwordResetTimeoutSeconds);
 * const url = `${config.appUrl}/accounts/reset/${encodeUid(user.id)}/${links.make(user)}/`;
 * links.check(user, token); // false once the password changed, or after the timeout
 */
export function passwordResetTokens(sessionSecret: string, timeoutSeconds: number): OneTimeLinks {
  return oneTimeLinks(derivedSecret(sessionSecret, 'password reset links'), 'django.contrib.auth.tokens.PasswordResetTokenGenerator', timeoutSeconds, passwordResetValue);
}

/** Three days, django-allauth's EMAIL_CONFIRMATION_EXPIRE_DAYS. */
export const EMAIL_VERIFICATION_TIMEOUT_SECONDS = 3 * 24 * 3600;

/**
 * Links that verify the email a user entered, valid for three days.
 *
 * @example
 * emailVerificationTokens(config.sessionSecret).check(user, token);
 */
export function emailVerificationTokens(sessionSecret: string): OneTimeLinks {
  return oneTimeLinks(derivedSecret(sessionSecret, 'email verification links'), 'oidc-connect email verification', EMAIL_VERIFICATION_TIMEOUT_SECONDS, emailVerificationValue);
}

/** Django's generator for any secret, key salt and hash value; exported for the test against Django. */
export function oneTimeLinks(secret: string, keySalt: string, timeoutSeconds: number, hashValue: HashValue): OneTimeLinks {
  // salted_hmac: the HMAC key is SHA-256 of key salt and secret.
  const key = createHash('sha256').update(keySalt + secret).digest();
  const tokenAt = (user: User, timestamp: number) =>
    `${timestamp.toString(36)}-${everyOther(createHmac('sha256', key).update(hashValue(user, timestamp)).digest('hex'))}`;
  return {
    make: (user, now = Date.now()) => tokenAt(user, secondsSince2001(now)),
    check(user, token, now = Date.now()) {
      if (typeof token !== 'string') return false;
      const parts = token.split('-');
      if (parts.length !== 2 || !/^[0-9a-z]{1,13}$/.test(parts[0]!) || parts[0]!.length > MAX_TIMESTAMP_DIGITS) return false;
      const timestamp = parseInt(parts[0]!, 36);
      if (!Number.isSafeInteger(timestamp)) return false;
      const expected = Buffer.from(tokenAt(user, timestamp));
      const given = Buffer.from(token);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
      return secondsSince2001(now) - timestamp <= timeoutSeconds;
    },
  };
}

/** The secret a kind of link is signed under: HKDF-SHA256 of SESSION_SECRET with the purpose, as hex. */
function derivedSecret(sessionSecret: string, purpose: string): string {
  return Buffer.from(hkdfSync('sha256', sessionSecret, '', `oidc-connect ${purpose}`, 32)).toString('hex');
}

const secondsSince2001 = (ms: number) => Math.floor((ms - EPOCH_2001_MS) / 1000);

/** Python's `hexdigest()[::2]`. */
function everyOther(hex: string): string {
  let out = '';
  for (let i = 0; i < hex.length; i += 2) out += hex[i];
  return out;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `str(datetime)` of a UTC time without microseconds: `2024-01-02 03:04:05`. */
function pythonDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * Django's `urlsafe_base64_encode(force_bytes(user.pk))`: the id's digits in unpadded base64url.
 *
 * @example encodeUid(1) // 'MQ'
 */
export function encodeUid(id: number): string {
  return Buffer.from(String(id)).toString('base64url');
}

/** The user id of a link's uidb64, or undefined when it is not one that encodeUid makes. */
export function decodeUid(uidb64: string): number | undefined {
  if (typeof uidb64 !== 'string' || !/^[A-Za-z0-9_-]{1,20}$/.test(uidb64)) return undefined;
  const digits = Buffer.from(uidb64, 'base64url').toString('latin1');
  if (!/^[1-9]\d{0,14}$/.test(digits) || encodeUid(Number(digits)) !== uidb64) return undefined;
  return Number(digits);
}
