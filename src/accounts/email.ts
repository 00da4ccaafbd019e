/**
 * The one comparison key for email addresses, used for linking, uniqueness checks and the domain
 * allow-list, in TypeScript and (through the stored users.email_key column) in SQL alike.
 *
 * Only ASCII A-Z are folded. `toLowerCase()` and Unicode normalisation would fold look-alikes
 * into ASCII (U+212A KELVIN SIGN becomes "k"), so `\u212Aate@example.com` would match
 * `kate@example.com`; SQL's lower() does not fold them the same way on every database either.
 */
export function normalizeEmail(email: string): string {
  return email.trim().replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * Whether `value` is shaped like an email address, as a form checks it before using it: at most 254
 * characters, one @ with something on each side, and no spaces, quotes or angle brackets.
 *
 * @example isEmailAddress('carol@example.com') // true
 */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && /^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/.test(value);
}
