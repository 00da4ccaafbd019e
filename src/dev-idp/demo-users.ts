import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { sha256Base64url } from '../digest.ts';
import { ConfigError } from '../errors.ts';

export interface DemoUser {
  sub: string;
  email: string;
  password: string;
  given_name: string;
  family_name: string;
  preferred_username: string;
  groups: string[];
  email_verified?: boolean;
  /** Asked for a second step at every sign-in, as if the provider's policy required one (src/dev-idp/second-step.ts). */
  mfa?: boolean;
}

/**
 * Okta user ids look like `00u` followed by 17 alphanumerics. Deriving ours from the email keeps
 * them stable across restarts and machines, so accounts the app linked by (issuer, sub) survive.
 */
export function deriveSub(email: string): string {
  const digest = sha256Base64url(email.trim().toLowerCase());
  return `00u${digest.replace(/[^A-Za-z0-9]/g, '').slice(0, 17)}`;
}

function demoUser(fields: Omit<DemoUser, 'sub'>): DemoUser {
  return Object.freeze({ ...fields, sub: deriveSub(fields.email), groups: Object.freeze([...fields.groups]) as string[] });
}

export const DEMO_USERS: readonly DemoUser[] = Object.freeze([
  demoUser({
    email: 'alice@example.com',
    password: 'wonderland',
    given_name: 'Alice',
    family_name: 'Liddell',
    preferred_username: 'alice',
    groups: ['Everyone', 'Admins'],
  }),
  demoUser({
    email: 'bob@example.com',
    password: 'builder',
    given_name: 'Bob',
    family_name: 'Builder',
    preferred_username: 'bob',
    groups: ['Everyone'],
  }),
]);

function optionalString(entry: Record<string, unknown>, key: string, where: string, problems: string[]): string | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    problems.push(`${where}: "${key}" must be a string`);
    return undefined;
  }
  return value;
}

/**
 * Reads a users file: a JSON array of objects with `email` and `password` (required), and
 * `sub`, `given_name`, `family_name`, `preferred_username`, `groups`, `email_verified`, `mfa` (optional). Every problem
 * is reported at once, one line each, so a broken file is fixed in one go.
 */
export function loadUsersFile(path: string): readonly DemoUser[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError([`development provider users file ${path}: cannot be read as JSON (${reason})`]);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError([`development provider users file ${path}: must be a non-empty JSON array of users`]);
  }

  const problems: string[] = [];
  const users: DemoUser[] = [];
  const seenEmails = new Set<string>();
  const seenSubs = new Set<string>();

  parsed.forEach((raw: unknown, index) => {
    const where = `development provider users file ${path}, entry ${index + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${where}: must be an object`);
      return;
    }
    const entry = raw as Record<string, unknown>;
    const email = optionalString(entry, 'email', where, problems);
    const password = optionalString(entry, 'password', where, problems);
    if (!email || !email.includes('@')) problems.push(`${where}: "email" is required and must be an email address`);
    if (!password) problems.push(`${where}: "password" is required`);

    const groups = entry['groups'] ?? [];
    if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string')) {
      problems.push(`${where}: "groups" must be an array of strings`);
    }
    const sub = optionalString(entry, 'sub', where, problems);
    const givenName = optionalString(entry, 'given_name', where, problems);
    const familyName = optionalString(entry, 'family_name', where, problems);
    const username = optionalString(entry, 'preferred_username', where, problems);
    const emailVerified = entry['email_verified'];
    if (emailVerified !== undefined && typeof emailVerified !== 'boolean') {
      problems.push(`${where}: "email_verified" must be true or false`);
    }
    const mfa = entry['mfa'];
    if (mfa !== undefined && typeof mfa !== 'boolean') problems.push(`${where}: "mfa" must be true or false`);
    if (!email || !password || !Array.isArray(groups)) return;

    const user: DemoUser = {
      sub: sub || deriveSub(email),
      email,
      password,
      given_name: givenName ?? '',
      family_name: familyName ?? '',
      preferred_username: username || email.slice(0, email.indexOf('@')),
      groups: groups as string[],
      ...(emailVerified === false ? { email_verified: false } : {}),
      ...(mfa === true ? { mfa: true } : {}),
    };
    const emailKey = email.toLowerCase();
    if (seenEmails.has(emailKey)) problems.push(`${where}: email ${email} appears more than once`);
    if (seenSubs.has(user.sub)) problems.push(`${where}: sub ${user.sub} appears more than once`);
    seenEmails.add(emailKey);
    seenSubs.add(user.sub);
    users.push(user);
  });

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(users.map((user) => Object.freeze(user)));
}

export class UserDirectory {
  readonly users: readonly DemoUser[];
  readonly #bySub: Map<string, DemoUser>;
  readonly #byEmail: Map<string, DemoUser>;

  constructor(users: readonly DemoUser[]) {
    this.users = users;
    this.#bySub = new Map(users.map((user) => [user.sub, user]));
    this.#byEmail = new Map(users.map((user) => [user.email.toLowerCase(), user]));
  }

  findBySub(sub: string): DemoUser | undefined {
    return this.#bySub.get(sub);
  }

  /** Returns the user only when the password matches; the comparison takes constant time. */
  authenticate(email: string, password: string): DemoUser | undefined {
    const user = this.#byEmail.get(email.trim().toLowerCase());
    // Compare digests so that the lengths match, and compare even for an unknown email.
    const expected = createHash('sha256').update(user?.password ?? '\0unknown').digest();
    const given = createHash('sha256').update(password).digest();
    return timingSafeEqual(expected, given) && user ? user : undefined;
  }
}
