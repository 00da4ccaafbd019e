/**
 * Django's default password validators (the AUTH_PASSWORD_VALIDATORS that `django-admin startproject`
 * writes), with Django's own messages, in Django's order: UserAttributeSimilarityValidator,
 * MinimumLengthValidator (8), CommonPasswordValidator (Django's list, shipped beside this file with its
 * licence) and NumericPasswordValidator. Every place that sets a password runs them: createsuperuser,
 * the password change, the admin's set-password, createUser and setPassword.
 *
 * They follow django/contrib/auth/password_validation.py step by step, including Python's string
 * semantics: lengths count code points, `str.lower()`, `str.strip()` and `str.isdigit()` use Python's
 * character sets, `\W` is Unicode-aware, and similarity is difflib's quick_ratio. The tests compare the
 * result with Django's validate_password on the same inputs.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { OidcConnectError } from '../errors.ts';

/** The user fields Django's UserAttributeSimilarityValidator compares, by its default attribute list. */
export interface PasswordOwner {
  username?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  email?: string | null;
}

const MIN_LENGTH = 8;
const MAX_SIMILARITY = 0.7;
/** DEFAULT_USER_ATTRIBUTES and the verbose names of Django's User fields, which its message uses. */
const ATTRIBUTES: ReadonlyArray<[keyof PasswordOwner, string]> = [
  ['username', 'username'], ['first_name', 'first name'], ['last_name', 'last name'], ['email', 'email address'],
];

/**
 * Django's messages for `password`, in order; empty when every validator accepts it. `owner` is the
 * account the password is for (leave it out when there is none yet, as Django's validators then skip
 * the similarity check).
 *
 * @example
 *   validatePassword('password', { username: 'alice' }) // ['This password is too common.']
 *   validatePassword('alice2024', { username: 'alice' }) // ['The password is too similar to the username.']
 */
export function validatePassword(password: string, owner?: PasswordOwner | null): string[] {
  if (typeof password !== 'string') throw new TypeError('validatePassword: password must be a string');
  const messages: string[] = [];
  const similar = owner ? similarAttribute(password, owner) : undefined;
  if (similar) messages.push(`The password is too similar to the ${similar}.`);
  if (codePoints(password).length < MIN_LENGTH) {
    messages.push(`This password is too short. It must contain at least ${MIN_LENGTH} characters.`);
  }
  if (commonPasswords().has(pythonStrip(password.toLowerCase()))) messages.push('This password is too common.');
  if (isDigits(password)) messages.push('This password is entirely numeric.');
  return messages;
}

/**
 * Throws PASSWORD_INVALID unless `password` passes validatePassword; the message is Django's messages,
 * one after the other. A blank password gets Django's createsuperuser message.
 *
 * @example
 *   checkNewPassword(form.new_password1, user); // throws, or returns nothing
 */
export function checkNewPassword(password: string, owner?: PasswordOwner | null): void {
  refuseBlankPassword(password);
  const messages = validatePassword(password, owner);
  if (messages.length > 0) throw new OidcConnectError('PASSWORD_INVALID', messages.join(' '));
}

/** PASSWORD_INVALID for an empty or all-space password, which even a bypass of the validators refuses (as Django's createsuperuser). */
export function refuseBlankPassword(password: string): void {
  if (pythonStrip(password) === '') throw new OidcConnectError('PASSWORD_INVALID', "Blank passwords aren't allowed.");
}

/** UserAttributeSimilarityValidator: the verbose name of the first attribute the password is too like. */
function similarAttribute(password: string, owner: PasswordOwner): string | undefined {
  const lowered = password.toLowerCase();
  for (const [attribute, verboseName] of ATTRIBUTES) {
    const value = owner[attribute];
    if (!value) continue;
    const valueLower = value.toLowerCase();
    for (const part of [...valueLower.split(NON_WORD), valueLower]) {
      if (exceedsMaximumLengthRatio(lowered, part)) continue;
      if (quickRatio(lowered, part) >= MAX_SIMILARITY) return verboseName;
    }
  }
  return undefined;
}

/** Python's `\W+` on a str: anything but letters, numbers (str.isalnum()) and the underscore. */
const NON_WORD = /[^\p{L}\p{N}_]+/u;

/**
 * Django's shortcut: a password ten times longer than the value can't reach the similarity bound, so
 * the value is skipped without comparing.
 */
function exceedsMaximumLengthRatio(password: string, value: string): boolean {
  const passwordLength = codePoints(password).length;
  const valueLength = codePoints(value).length;
  return passwordLength >= 10 * valueLength && valueLength < (MAX_SIMILARITY / 2) * passwordLength;
}

/** difflib.SequenceMatcher(a=a, b=b).quick_ratio(): an upper bound of ratio() from character counts. */
function quickRatio(a: string, b: string): number {
  const as = codePoints(a);
  const bs = codePoints(b);
  const available = new Map<string, number>();
  for (const c of bs) available.set(c, (available.get(c) ?? 0) + 1);
  let matches = 0;
  for (const c of as) {
    const left = available.get(c) ?? 0;
    available.set(c, left - 1);
    if (left > 0) matches++;
  }
  const length = as.length + bs.length;
  return length > 0 ? (2 * matches) / length : 1;
}

function codePoints(value: string): string[] {
  return Array.from(value);
}

/** Python's str.strip(): str.isspace() characters, which JavaScript's trim() does not quite share. */
function pythonStrip(value: string): string {
  return value.replace(/^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu, '');
}

/**
 * Python's str.isdigit(): decimal digits (Nd) and the other characters whose Unicode Numeric_Type is
 * Digit (superscripts, circled and parenthesised digits…), as Python 3.11 lists them:
 * `[c for c in map(chr, range(0x110000)) if c.isdigit() and not c.isdecimal()]`.
 */
const DIGITS = /^[\p{Nd}\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u2474-\u247c\u2488-\u2490\u24ea\u24f5-\u24fd\u24ff\u2776-\u277e\u2780-\u2788\u278a-\u2792\u{10a40}-\u{10a43}\u{10e60}-\u{10e68}\u{11052}-\u{1105a}\u{1f100}-\u{1f10a}]+$/u;

function isDigits(password: string): boolean {
  return DIGITS.test(password);
}

/**
 * Django's list of 20,000 common passwords (lower-cased, deduplicated; by Royce Williams), read once on
 * first use. It ships in the package beside this module, with Django's licence (common-passwords/LICENSE).
 */
let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  if (!common) {
    const text = gunzipSync(readFileSync(new URL('./common-passwords/common-passwords.txt.gz', import.meta.url))).toString('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    common = new Set(lines.map(pythonStrip));
  }
  return common;
}
