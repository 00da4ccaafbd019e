/**
 * PATCH (RFC 7644 §3.5.2) in the dialects Okta and Entra send: ops in any case ("Replace"), no path
 * with a value object (Okta; Entra with aadOptscim062020, whose keys may themselves be paths such
 * as "name.givenName" or `emails[type eq "work"].value`), paths with value filters, booleans as
 * strings ("False", Entra's default), and members added or removed by value lists or by a filter.
 *
 * Operations are applied to a document of the resource (lower-cased names); the result is then read
 * exactly as a PUT body would be, so a PATCH can't store what a PUT would refuse.
 */
import { filter as matches } from 'scim2-parse-filter';
import { ScimError } from './errors.ts';
import { parsePatchPath, type PatchPath } from './filter.ts';
import { isObject, lowerKeys, readMembers, type Doc } from './resources.ts';
import { CORE_GROUP, CORE_USER, GROUP_ATTRIBUTES, GROUP_EXTENSIONS, MAX_OPERATIONS, PATCH_OP, USER_ATTRIBUTES, USER_EXTENSIONS } from './schemas.ts';

type Op = 'add' | 'replace' | 'remove';
export interface Operation {
  readonly op: Op;
  readonly path: string | undefined;
  readonly value: unknown;
}

const syntax = (detail: string) => new ScimError(400, detail, 'invalidSyntax');

/** The operations of a PatchOp body, checked for shape. */
export function readOperations(body: unknown): Operation[] {
  if (!isObject(body)) throw syntax('The body must be a JSON object.');
  const lowered = lowerKeys(body);
  const schemas = lowered.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP.toLowerCase())) {
    throw new ScimError(400, `schemas must be ["${PATCH_OP}"].`, 'invalidValue');
  }
  const operations = lowered.operations;
  if (!Array.isArray(operations) || operations.length === 0) throw syntax('Operations must be a non-empty list.');
  if (operations.length > MAX_OPERATIONS) throw new ScimError(400, `At most ${MAX_OPERATIONS} operations per request.`, 'tooMany');
  return operations.map((raw) => {
    if (!isObject(raw)) throw syntax('Each operation must be an object.');
    const operation = lowerKeys(raw);
    const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw syntax(`The op ${JSON.stringify(operation.op)} is not add, replace or remove.`);
    if (operation.path !== undefined && typeof operation.path !== 'string') throw syntax('path must be a string.');
    if (op !== 'remove' && operation.value === undefined) throw syntax(`A ${op} operation needs a value.`);
    return { op, path: operation.path as string | undefined, value: operation.value };
  });
}

/** A path-less add or replace: each key of the value object is a path of its own (Okta; Entra's flagged dialect). */
function expand(operation: Operation): { op: Op; path: string; value: unknown }[] {
  if (operation.path !== undefined) return [{ op: operation.op, path: operation.path, value: operation.value }];
  if (operation.op === 'remove') throw new ScimError(400, 'A remove operation needs a path.', 'noTarget');
  if (!isObject(operation.value)) throw syntax(`A ${operation.op} operation without a path needs an object value.`);
  return Object.entries(operation.value).map(([path, value]) => ({ op: operation.op, path, value }));
}

const isExtension = (attribute: string, extensions: readonly string[]): boolean =>
  extensions.some((urn) => attribute === urn.toLowerCase() || attribute.startsWith(`${urn.toLowerCase()}:`));

/** Entries of a multi-valued attribute that a value filter selects (the package's own evaluation). */
function selected(list: Doc[], path: PatchPath): Doc[] {
  const test = matches(path.filter!);
  return list.filter((entry) => test(entry));
}

/** A new entry made from an `attr[type eq "x"]` filter, when a replace or add finds none to change. */
function entryFromFilter(path: PatchPath): Doc {
  const f = path.filter!;
  return f.op === 'eq' && typeof f.compValue === 'string' ? { [f.attrPath.toLowerCase()]: f.compValue } : {};
}

/**
 * Applies PATCH operations to a user document. Read-only attributes (id, meta, groups) are ignored;
 * extension attributes of a known extension are accepted and not stored; any other unknown path is
 * invalidPath.
 */
export function patchUserDoc(doc: Doc, operations: readonly Operation[]): Doc {
  for (const operation of operations) {
    for (const { op, path, value } of expand(operation)) {
      const target = parsePatchPath(path, CORE_USER);
      const attribute = target.attribute;
      if (attribute.startsWith('urn:')) {
        if (isExtension(attribute, USER_EXTENSIONS)) continue;
        throw new ScimError(400, `The path ${JSON.stringify(path.slice(0, 100))} belongs to no schema of this service.`, 'invalidPath');
      }
      if (!USER_ATTRIBUTES.has(attribute)) throw new ScimError(400, `The attribute ${JSON.stringify(path.slice(0, 100))} is not one of the User schema.`, 'invalidPath');
      if (['id', 'meta', 'groups', 'schemas'].includes(attribute)) continue;
      if (attribute === 'emails') {
        doc.emails = patchList((doc.emails as Doc[] | undefined) ?? [], op, target, value);
        continue;
      }
      const lowered = isObject(value) ? lowerKeys(value) : value;
      if (target.filter) continue; // a value filter on an attribute we don't store (phoneNumbers, addresses…)
      if (target.sub) {
        const parent: Doc = isObject(doc[attribute]) ? { ...(doc[attribute] as Doc) } : {};
        if (op === 'remove') delete parent[target.sub];
        else parent[target.sub] = value;
        doc[attribute] = parent;
      } else if (op === 'remove') {
        delete doc[attribute];
      } else if (op === 'add' && isObject(lowered) && isObject(doc[attribute])) {
        doc[attribute] = { ...(doc[attribute] as Doc), ...lowered };
      } else {
        doc[attribute] = lowered;
      }
    }
  }
  return doc;
}

/** add/replace/remove on a multi-valued attribute (emails), with or without a value filter and a sub-attribute. */
function patchList(list: Doc[], op: Op, path: PatchPath, value: unknown): Doc[] {
  const entries = list.map((e) => ({ ...e }));
  const values = () => (Array.isArray(value) ? value : [value]).map((v) => (isObject(v) ? lowerKeys(v) : v)) as Doc[];
  if (!path.filter) {
    if (path.sub) {
      if (op === 'remove') return entries.map((e) => { delete e[path.sub!]; return e; });
      if (entries.length === 0) return [{ [path.sub]: value, primary: true }];
      return entries.map((e) => ({ ...e, [path.sub!]: value }));
    }
    if (op === 'remove') return [];
    return op === 'add' ? [...entries, ...values()] : values();
  }
  const chosen = selected(entries, path);
  if (op === 'remove') {
    if (chosen.length === 0) throw new ScimError(400, 'No value matches the path\'s filter.', 'noTarget');
    if (path.sub) return entries.map((e) => { if (chosen.includes(e)) delete e[path.sub!]; return e; });
    return entries.filter((e) => !chosen.includes(e));
  }
  if (chosen.length === 0) {
    const created = { ...entryFromFilter(path), ...(path.sub ? { [path.sub]: value } : isObject(value) ? lowerKeys(value) : {}) };
    return [...entries, created];
  }
  return entries.map((e) => {
    if (!chosen.includes(e)) return e;
    return path.sub ? { ...e, [path.sub]: value } : { ...e, ...(isObject(value) ? lowerKeys(value) : {}) };
  });
}

/** A group's patch, read: its new name and externalId, and the members after it. */
export interface GroupPatch {
  name?: string;
  externalId?: string | null;
  /** The member ids after the patch, starting from `current`. */
  members: Set<number>;
}

/**
 * Applies PATCH operations to a group: displayName and externalId replaced (Okta's path-less
 * `{"id", "displayName"}` too, with id ignored), members added, removed (by value lists, Entra's
 * default, or by `members[value eq "…"]`), or replaced.
 */
export function patchGroup(current: readonly number[], operations: readonly Operation[]): GroupPatch {
  const result: GroupPatch = { members: new Set(current) };
  for (const operation of operations) {
    for (const { op, path, value } of expand(operation)) {
      const target = parsePatchPath(path, CORE_GROUP);
      const attribute = target.attribute;
      if (attribute.startsWith('urn:') || attribute.startsWith('http')) {
        if (isExtension(attribute, GROUP_EXTENSIONS)) continue;
        throw new ScimError(400, `The path ${JSON.stringify(path.slice(0, 100))} belongs to no schema of this service.`, 'invalidPath');
      }
      if (!GROUP_ATTRIBUTES.has(attribute)) throw new ScimError(400, `The attribute ${JSON.stringify(path.slice(0, 100))} is not one of the Group schema.`, 'invalidPath');
      if (['id', 'meta', 'schemas'].includes(attribute)) continue;
      if (attribute === 'displayname') {
        if (op === 'remove') throw new ScimError(400, 'displayName is required and can not be removed.', 'mutability');
        if (typeof value !== 'string') throw new ScimError(400, 'displayName must be a string.', 'invalidValue');
        result.name = value;
      } else if (attribute === 'externalid') {
        if (op === 'remove') result.externalId = null;
        else if (typeof value !== 'string') throw new ScimError(400, 'externalId must be a string.', 'invalidValue');
        else result.externalId = value;
      } else {
        patchMembers(result.members, op, target, value);
      }
    }
  }
  return result;
}

function patchMembers(members: Set<number>, op: Op, path: PatchPath, value: unknown): void {
  if (path.filter) {
    if (op !== 'remove') throw new ScimError(400, 'Members are added or replaced by a list of values, not through a filter.', 'invalidPath');
    const test = matches(path.filter);
    for (const id of [...members]) if (test({ value: String(id) })) members.delete(id);
    return;
  }
  if (op === 'remove') {
    if (value === undefined || value === null) members.clear();
    else for (const id of readMembers(value)) members.delete(id);
    return;
  }
  if (op === 'replace') members.clear();
  for (const id of readMembers(value)) members.add(id);
}

