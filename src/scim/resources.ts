/**
 * SCIM User and Group resources: how a user or group row is shown (RFC 7643 §4, with `meta`), and
 * how a request body is read into what accounts/ stores. Attribute names are case-insensitive, so a
 * body is first lower-cased (top-level keys and the sub-attributes of `name` and `emails`).
 */
import { checkUsername } from '../accounts/users.ts';
import type { DirectoryProfile } from '../accounts/directory.ts';
import type { Group, User } from '../db/schema.ts';
import { isOidcConnectError } from '../errors.ts';
import { invalidValue, ScimError } from './errors.ts';
import { CORE_GROUP, CORE_USER, GROUP_ATTRIBUTES, USER_ATTRIBUTES } from './schemas.ts';

/** A resource being read or patched: lower-cased SCIM attribute names. */
export type Doc = Record<string, unknown>;

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Keys lower-cased, and those of `name` and of each entry of `emails`/`members` too. */
export function lowerKeys(body: Record<string, unknown>): Doc {
  const lower = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
  const doc = lower(body);
  if (isObject(doc.name)) doc.name = lower(doc.name);
  for (const key of ['emails', 'members']) {
    if (Array.isArray(doc[key])) doc[key] = (doc[key] as unknown[]).map((e) => (isObject(e) ? lower(e) : e));
  }
  return doc;
}

/** A SCIM boolean as Okta and Entra send it: true/false, or Entra's default dialect's "True"/"False". */
export function scimBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return undefined;
}

function optionalString(doc: Doc, key: string, label: string, max: number): string | undefined {
  const value = doc[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidValue(`${label} must be a string.`);
  if (value.length > max) throw invalidValue(`${label} has more than ${max} characters.`);
  return value;
}

/**
 * The schemas a POST or PUT body declares: the core one must be among them, and every attribute
 * must belong to one of them (an extension's attributes sit under its URN). An attribute whose value
 * is null asserts nothing (RFC 7643 §2.5: null is unassigned), so it is let be whatever its name:
 * Entra's tutorial sends `"department": null, "manager": null` at the top level.
 */
function checkDeclared(body: Record<string, unknown>, core: string, known: ReadonlySet<string>): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.every((s) => typeof s === 'string')) throw invalidValue('schemas must be a list of schema URNs.');
  const declared = new Set(schemas.map((s: string) => s.toLowerCase()));
  if (!declared.has(core.toLowerCase())) throw invalidValue(`schemas must include ${core}.`);
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (known.has(lower) || value === null) continue;
    if (declared.has(lower)) {
      if (!isObject(value)) throw invalidValue(`${key} must be an object of that schema's attributes.`);
      continue;
    }
    throw invalidValue(`The attribute ${JSON.stringify(key.slice(0, 100))} belongs to no schema this request declares.`);
  }
}

/** The email a user's `emails` give: the primary one, else the work one, else the first. */
function primaryEmail(doc: Doc): string {
  const emails = doc.emails;
  if (emails === undefined || emails === null) return '';
  if (!Array.isArray(emails)) throw invalidValue('emails must be a list.');
  for (const entry of emails) {
    if (!isObject(entry) || typeof entry.value !== 'string') throw invalidValue('Each of emails must be an object with a string value.');
    if (entry.primary !== undefined && scimBoolean(entry.primary) === undefined) throw invalidValue('emails.primary must be true or false.');
  }
  const list = emails as Doc[];
  const chosen = list.find((e) => scimBoolean(e.primary) === true) ?? list.find((e) => String(e.type ?? '').toLowerCase() === 'work') ?? list[0];
  const value = (chosen?.value as string | undefined)?.trim() ?? '';
  if (value !== '' && (value.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(value))) throw invalidValue(`The email ${JSON.stringify(value.slice(0, 100))} is not an address.`);
  return value;
}

/** What a user document (lower-cased) sets, checked; `password` is accepted and dropped. */
export function readUserDoc(doc: Doc): DirectoryProfile {
  const username = doc.username;
  if (typeof username !== 'string' || username === '') throw invalidValue('userName is required, and must be a string.');
  try {
    checkUsername(username);
  } catch (error) {
    if (isOidcConnectError(error)) throw invalidValue(`userName ${JSON.stringify(username.slice(0, 160))}: ${error.message}`);
    throw error;
  }
  if (doc.name !== undefined && doc.name !== null && !isObject(doc.name)) throw invalidValue('name must be an object.');
  const name = (doc.name ?? {}) as Doc;
  let active = true;
  if (doc.active !== undefined && doc.active !== null) {
    const parsed = scimBoolean(doc.active);
    if (parsed === undefined) throw invalidValue('active must be true or false.');
    active = parsed;
  }
  if (doc.password !== undefined && doc.password !== null && typeof doc.password !== 'string') throw invalidValue('password must be a string.');
  const externalId = optionalString(doc, 'externalid', 'externalId', 255);
  if (externalId === '') throw invalidValue('externalId must not be empty.');
  return {
    username,
    externalId: externalId ?? null,
    email: primaryEmail(doc),
    firstName: optionalString(name, 'givenname', 'name.givenName', 150) ?? '',
    lastName: optionalString(name, 'familyname', 'name.familyName', 150) ?? '',
    displayName: optionalString(doc, 'displayname', 'displayName', 255) ?? '',
    nickName: optionalString(doc, 'nickname', 'nickName', 150) ?? '',
    active,
  };
}

/** A POST or PUT /Users body, read. */
export function readUserBody(body: unknown): DirectoryProfile {
  if (!isObject(body)) throw new ScimError(400, 'The body must be a JSON object.', 'invalidSyntax');
  checkDeclared(body, CORE_USER, USER_ATTRIBUTES);
  return readUserDoc(lowerKeys(body));
}

/** A user as a document to patch: what this service stores, lower-cased. */
export function userDoc(user: User): Doc {
  return {
    username: user.username,
    ...(user.external_id !== null ? { externalid: user.external_id } : {}),
    name: { givenname: user.first_name, familyname: user.last_name },
    displayname: user.display_name,
    nickname: user.nick_name,
    emails: user.email ? [{ value: user.email, type: 'work', primary: true }] : [],
    active: user.is_active === 1,
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();
export const versionOf = (modified: number, id: number): string => `W/"${id}-${modified}"`;

/** A user as SCIM shows it. A password is never shown. */
export function scimUser(user: User, groups: readonly { id: number; name: string }[], base: string): object {
  const formatted = [user.first_name, user.last_name].filter(Boolean).join(' ');
  const modified = user.modified || user.date_joined;
  return {
    schemas: [CORE_USER],
    id: String(user.id),
    ...(user.external_id !== null ? { externalId: user.external_id } : {}),
    userName: user.username,
    name: { givenName: user.first_name, familyName: user.last_name, ...(formatted ? { formatted } : {}) },
    displayName: user.display_name || formatted || user.username,
    ...(user.nick_name ? { nickName: user.nick_name } : {}),
    emails: user.email ? [{ value: user.email, type: 'work', primary: true }] : [],
    active: user.is_active === 1,
    groups: groups.map((g) => ({ value: String(g.id), display: g.name, $ref: `${base}/Groups/${g.id}` })),
    meta: {
      resourceType: 'User', created: iso(user.date_joined), lastModified: iso(modified),
      location: `${base}/Users/${user.id}`, version: versionOf(modified, user.id),
    },
  };
}

/** What a group body sets. */
export interface GroupInput {
  name: string;
  externalId: string | null;
  /** undefined: not given (PATCH leaves members as they are). */
  members: number[] | undefined;
}

/** A member's `value`: one of our user ids. */
export function memberId(value: unknown): number {
  if (typeof value === 'string' && /^[1-9]\d{0,14}$/.test(value)) return Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw invalidValue(`The member ${JSON.stringify(String(value).slice(0, 100))} is not a user id of this service.`);
}

export function readMembers(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry) => {
    if (!isObject(entry)) throw invalidValue('Each member must be an object with a value.');
    const lowered = lowerKeys(entry);
    return memberId(lowered.value);
  });
}

/** A group document (lower-cased), read. */
export function readGroupDoc(doc: Doc): GroupInput {
  const name = doc.displayname;
  if (typeof name !== 'string' || name.trim() === '') throw invalidValue('displayName is required, and must be a string.');
  if (name.length > 150) throw invalidValue('displayName has more than 150 characters.');
  const externalId = optionalString(doc, 'externalid', 'externalId', 255);
  const members = doc.members === undefined || doc.members === null ? undefined : readMembers(doc.members);
  if (doc.members !== undefined && doc.members !== null && !Array.isArray(doc.members)) throw invalidValue('members must be a list.');
  return { name, externalId: externalId || null, members };
}

/** A POST or PUT /Groups body, read. */
export function readGroupBody(body: unknown): GroupInput {
  if (!isObject(body)) throw new ScimError(400, 'The body must be a JSON object.', 'invalidSyntax');
  checkDeclared(body, CORE_GROUP, GROUP_ATTRIBUTES);
  return readGroupDoc(lowerKeys(body));
}

/** A group as SCIM shows it; without members when they were excluded. */
export function scimGroup(group: Group, members: readonly { id: number; username: string }[] | undefined, base: string): object {
  const modified = group.modified || group.created;
  return {
    schemas: [CORE_GROUP],
    id: String(group.id),
    ...(group.external_id !== null ? { externalId: group.external_id } : {}),
    displayName: group.name,
    ...(members ? { members: members.map((m) => ({ value: String(m.id), display: m.username, $ref: `${base}/Users/${m.id}` })) } : {}),
    meta: {
      resourceType: 'Group', created: iso(group.created), lastModified: iso(modified),
      location: `${base}/Groups/${group.id}`, version: versionOf(modified, group.id),
    },
  };
}

