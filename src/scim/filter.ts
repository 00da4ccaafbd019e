/**
 * SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed by scim2-parse-filter, then
 * mapped onto the fields accounts/ lets a directory compare (an allow-list): a filter on anything
 * else is refused as invalidFilter, and no part of a filter ever reaches SQL but as a bound value.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import type { DirectoryCondition, DirectoryField } from '../accounts/directory.ts';
import type { GroupCondition } from '../accounts/groups.ts';
import { ScimError } from './errors.ts';
import { CORE_GROUP, CORE_USER } from './schemas.ts';

/** Longer filters are refused: the ones clients send are a comparison or two. */
export const MAX_FILTER_LENGTH = 2048;
/** Comparisons in one filter, at most. */
const MAX_TERMS = 50;

const invalidFilter = (detail: string) => new ScimError(400, detail, 'invalidFilter');

/** An attribute path as one key: the core schema's URN dropped, lower-cased (SCIM names are case-insensitive). */
export function attributeKey(path: string, core: string): string {
  const lowered = path.toLowerCase();
  const prefix = `${core.toLowerCase()}:`;
  return lowered.startsWith(prefix) ? lowered.slice(prefix.length) : lowered;
}

/** The parsed filter, or invalidFilter for one that is malformed or too large. */
export function parseFilter(text: string): Filter {
  if (text.length > MAX_FILTER_LENGTH) throw invalidFilter(`The filter is longer than ${MAX_FILTER_LENGTH} characters.`);
  let filter: Filter;
  try {
    filter = parse(text);
  } catch (error) {
    throw invalidFilter(`The filter could not be parsed: ${(error as Error).message.slice(0, 200)}`);
  }
  let terms = 0;
  const count = (f: Filter): void => {
    if (++terms > MAX_TERMS) throw invalidFilter(`The filter has more than ${MAX_TERMS} terms.`);
    if (f.op === 'and' || f.op === 'or') f.filters.forEach(count);
    else if (f.op === 'not') count(f.filter);
    else if (f.op === '[]') count(f.valFilter);
  };
  count(filter);
  return filter;
}

const USER_FIELDS: Record<string, DirectoryField> = {
  'id': 'id',
  'username': 'username',
  'externalid': 'external_id',
  'emails': 'email',
  'emails.value': 'email',
  'active': 'active',
  'displayname': 'display_name',
  'nickname': 'nick_name',
  'name.givenname': 'first_name',
  'name.familyname': 'last_name',
  'meta.lastmodified': 'modified',
  'meta.created': 'created',
};

function userValue(field: DirectoryField, path: string, value: unknown): string | number | boolean {
  if (field === 'active') {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
    throw invalidFilter(`${path} is compared with true or false.`);
  }
  if (field === 'modified' || field === 'created') {
    const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(time)) throw invalidFilter(`${path} is compared with a date such as "2024-05-13T04:42:34Z".`);
    return time;
  }
  if (field === 'id') return typeof value === 'string' && /^[1-9]\d{0,14}$/.test(value) ? Number(value) : -1;
  if (typeof value !== 'string') throw invalidFilter(`${path} is compared with a string.`);
  return value;
}

/** An emails[…] value filter: our one email is the primary, of type work. */
function emailValueFilter(filter: Filter): DirectoryCondition {
  switch (filter.op) {
    case 'and': case 'or': return { op: filter.op, of: filter.filters.map(emailValueFilter) };
    case 'not': return { op: 'not', of: emailValueFilter(filter.filter) };
    case '[]': throw invalidFilter('A value filter can not hold another.');
    case 'pr': return { op: 'pr', field: 'email' };
    default: {
      const sub = filter.attrPath.toLowerCase();
      if (sub === 'value') return { op: filter.op, field: 'email', value: userValue('email', 'emails.value', filter.compValue) };
      if (sub === 'type' && filter.op === 'eq' && typeof filter.compValue === 'string') {
        return filter.compValue.toLowerCase() === 'work' ? { op: 'pr', field: 'email' } : { op: 'none' };
      }
      if (sub === 'primary' && filter.op === 'eq') return filter.compValue === true || filter.compValue === 'true' ? { op: 'pr', field: 'email' } : { op: 'none' };
      throw invalidFilter(`Filtering emails by ${filter.attrPath} ${filter.op} is not supported.`);
    }
  }
}

/**
 * A Users filter as a directory condition.
 *
 * @example
 * userCondition(parseFilter('userName eq "alice"')) // { op: 'eq', field: 'username', value: 'alice' }
 */
export function userCondition(filter: Filter): DirectoryCondition {
  switch (filter.op) {
    case 'and': case 'or': return { op: filter.op, of: filter.filters.map(userCondition) };
    case 'not': return { op: 'not', of: userCondition(filter.filter) };
    case '[]': {
      if (attributeKey(filter.attrPath, CORE_USER) !== 'emails') throw invalidFilter(`Filtering on ${filter.attrPath}[…] is not supported.`);
      return emailValueFilter(filter.valFilter);
    }
    default: {
      const key = attributeKey(filter.attrPath, CORE_USER);
      const field = USER_FIELDS[key];
      if (field === undefined) throw invalidFilter(`Filtering on ${filter.attrPath} is not supported; use userName, externalId, emails.value, active, displayName or meta.lastModified.`);
      if (filter.op === 'pr') return { op: 'pr', field };
      if (filter.compValue === null) throw invalidFilter(`${filter.attrPath} can not be compared with null; use "not (${filter.attrPath} pr)".`);
      return { op: filter.op, field, value: userValue(field, filter.attrPath, filter.compValue) };
    }
  }
}

/** A Groups filter as a group condition. */
export function groupCondition(filter: Filter): GroupCondition {
  switch (filter.op) {
    case 'and': case 'or': return { op: filter.op, of: filter.filters.map(groupCondition) };
    case 'not': return { op: 'not', of: groupCondition(filter.filter) };
    case '[]': throw invalidFilter(`Filtering on ${filter.attrPath}[…] is not supported.`);
    default: {
      const key = attributeKey(filter.attrPath, CORE_GROUP);
      const field = key === 'displayname' ? 'name' : key === 'externalid' ? 'external_id' : key === 'id' ? 'id' : undefined;
      if (field === undefined) throw invalidFilter(`Filtering on ${filter.attrPath} is not supported; use displayName, externalId or id.`);
      if (filter.op === 'pr') return { op: 'pr', field };
      if (!['eq', 'ne', 'co', 'sw', 'ew'].includes(filter.op)) throw invalidFilter(`${filter.attrPath} ${filter.op} is not supported.`);
      if (typeof filter.compValue !== 'string') throw invalidFilter(`${filter.attrPath} is compared with a string.`);
      const value = field === 'id' ? (/^[1-9]\d{0,14}$/.test(filter.compValue) ? Number(filter.compValue) : -1) : filter.compValue;
      return { op: filter.op as 'eq' | 'ne' | 'co' | 'sw' | 'ew', field, value };
    }
  }
}

/** A PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, or an extension's `urn:…:attr`. */
export interface PatchPath {
  /** Lower-cased, without the core schema's URN; an extension attribute keeps its URN. */
  readonly attribute: string;
  readonly filter?: Filter;
  /** Lower-cased sub-attribute. */
  readonly sub?: string;
}

/**
 * Splits a PATCH path. Only the value filter inside the brackets is a filter (parsed by the package);
 * the brackets are found outside quoted strings, so a `]` inside a value does not end them.
 */
export function parsePatchPath(path: string, core: string): PatchPath {
  const invalidPath = (detail: string) => new ScimError(400, detail, 'invalidPath');
  if (path.length === 0 || path.length > MAX_FILTER_LENGTH) throw invalidPath('The path is empty or too long.');
  let open = -1;
  let close = -1;
  let quoted = false;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === '[' && open === -1) {
      open = i;
    } else if (c === ']' && open !== -1) {
      close = i;
      break;
    }
  }
  if (open === -1) {
    const key = attributeKey(path, core);
    if (key.startsWith('urn:')) return { attribute: key };
    const dot = key.indexOf('.');
    return dot === -1 ? { attribute: key } : { attribute: key.slice(0, dot), sub: key.slice(dot + 1) };
  }
  if (close === -1) throw invalidPath(`The path ${JSON.stringify(path)} has an unclosed [.`);
  const rest = path.slice(close + 1);
  if (rest !== '' && !/^\.[A-Za-z][\w$-]*$/.test(rest)) throw invalidPath(`The path ${JSON.stringify(path)} can't be followed.`);
  let filter: Filter;
  try {
    filter = parse(path.slice(open + 1, close));
  } catch (error) {
    throw invalidPath(`The value filter of ${JSON.stringify(path)} could not be parsed: ${(error as Error).message.slice(0, 200)}`);
  }
  return { attribute: attributeKey(path.slice(0, open), core), filter, ...(rest ? { sub: rest.slice(1).toLowerCase() } : {}) };
}
