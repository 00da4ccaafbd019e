/**
 * The SCIM 2.0 service provider (RFC 7644) over accounts/: Users and Groups listed, read, created,
 * replaced, patched and deleted. Framework-free: web/routes/scim.ts carries requests to it and its
 * answers back. Every refusal is a ScimError; every write runs in one transaction, so a request
 * refused half-way writes nothing.
 *
 * Deprovisioning (`active: false` by PUT or PATCH, or DELETE) ends every session of the user in the
 * same transaction. Both writes are announced (src/db/change-feed.ts), so every instance drops the
 * user's cached sessions and bearer tokens; their provider refresh tokens lived in those sessions
 * and are gone with them. A deleted user stays, inactive and marked deleted: SCIM answers 404 for
 * them, and their provider identity keeps pointing at an account that can't sign in.
 */
import {
  createDirectoryUser, findDirectoryUser, findDirectoryUsers, markUserDeleted, replaceDirectoryUser, type DirectoryProfile,
} from '../accounts/directory.ts';
import {
  addGroupMembers, createGroup, deleteGroup, existingUserIds, findGroup, findGroups, groupMemberIds, groupMembers, groupRefsOfUser,
  removeGroupMembers, touchGroup, updateGroup,
} from '../accounts/groups.ts';
import { applyRoleRules, type RoleRule } from '../accounts/roles.ts';
import { findUserById } from '../accounts/users.ts';
import { recordEvent } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import type { Group, User } from '../db/schema.ts';
import { isOidcConnectError } from '../errors.ts';
import { deleteUserSessions } from '../sessions/index.ts';
import { invalidValue, notFound, ScimError } from './errors.ts';
import { groupCondition, parseFilter, userCondition } from './filter.ts';
import { patchGroup, patchUserDoc, readOperations } from './patch.ts';
import { readGroupBody, readUserBody, readUserDoc, scimGroup, scimUser, userDoc, versionOf } from './resources.ts';
import { DEFAULT_RESULTS, LIST_RESPONSE, MAX_RESULTS } from './schemas.ts';

export interface ScimAnswer {
  status: number;
  body?: object;
  /** ETag of the resource answered (RFC 7644 §3.14). */
  version?: string;
  location?: string;
}

/** Who sent the request, for the audit log. */
export interface ScimCaller {
  ip?: string;
  userAgent?: string;
}

/** RFC 7644 §3.4.2.4: startIndex below 1 is 1; count below 0 is 0; above MAX_RESULTS is MAX_RESULTS. */
export function paging(query: Record<string, unknown>): { offset: number; limit: number; startIndex: number } {
  const integer = (name: string, fallback: number): number => {
    const raw = query[name];
    if (raw === undefined || raw === '') return fallback;
    if (typeof raw !== 'string' || !/^-?\d{1,15}$/.test(raw)) throw invalidValue(`${name} must be a whole number.`);
    return Number(raw);
  };
  const startIndex = Math.max(1, integer('startIndex', 1));
  const count = Math.min(MAX_RESULTS, Math.max(0, integer('count', DEFAULT_RESULTS)));
  return { offset: startIndex - 1, limit: count, startIndex };
}

const resourceId = (raw: string, what: string): number => {
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw notFound(what);
  return Number(raw);
};

function excluded(query: Record<string, unknown>, attribute: string): boolean {
  const value = query.excludedAttributes;
  return typeof value === 'string' && value.split(',').some((a) => a.trim().toLowerCase() === attribute);
}

/** Conflicts from accounts/ as SCIM's 409 uniqueness; anything else goes on. */
function conflict(error: unknown): never {
  if (isOidcConnectError(error) && (error.code === 'USERNAME_TAKEN' || error.code === 'NAME_TAKEN')) {
    throw new ScimError(409, error.message, 'uniqueness');
  }
  if (isOidcConnectError(error) && error.code === 'BAD_REQUEST') throw invalidValue(error.message);
  throw error;
}

export class ScimService {
  readonly #db: Db;
  readonly #rules: readonly RoleRule[];
  /** `$APP_URL/scim/v2`, for meta.location and $ref. */
  readonly base: string;

  constructor(options: { db: Db; roleRules: readonly RoleRule[]; base: string }) {
    this.#db = options.db;
    this.#rules = options.roleRules;
    this.base = options.base;
  }

  async listUsers(query: Record<string, unknown>): Promise<ScimAnswer> {
    const page = paging(query);
    const condition = typeof query.filter === 'string' && query.filter.trim() !== '' ? userCondition(parseFilter(query.filter)) : { op: 'all' as const };
    const { users, total } = await findDirectoryUsers(this.#db, condition, page);
    const resources = await Promise.all(users.map(async (u) => scimUser(u, await groupRefsOfUser(this.#db, u.id), this.base)));
    return { status: 200, body: { schemas: [LIST_RESPONSE], totalResults: total, startIndex: page.startIndex, itemsPerPage: resources.length, Resources: resources } };
  }

  async getUser(rawId: string): Promise<ScimAnswer> {
    return this.#userAnswer(await this.#user(rawId), 200);
  }

  async createUser(body: unknown, caller: ScimCaller): Promise<ScimAnswer> {
    const profile = readUserBody(body);
    const user = await this.#db.transaction().execute(async (trx) => {
      const created = await createDirectoryUser(trx, profile).catch(conflict);
      await recordEvent(trx, { type: 'provisioning', userId: created.id, username: created.username, detail: `created${created.is_active ? '' : ' inactive'}`, ...caller });
      return created;
    });
    return this.#userAnswer(user, 201);
  }

  async replaceUser(rawId: string, body: unknown, caller: ScimCaller): Promise<ScimAnswer> {
    const user = await this.#user(rawId);
    const profile = readUserBody(body);
    // Okta's PUT leaves externalId out: absent, it stays as it is (an explicit null clears it).
    const given = Object.keys(body as object).some((key) => key.toLowerCase() === 'externalid');
    return this.#userAnswer(await this.#write(user, given ? profile : { ...profile, externalId: user.external_id }, caller), 200);
  }

  async patchUser(rawId: string, body: unknown, caller: ScimCaller): Promise<ScimAnswer> {
    const operations = readOperations(body);
    const user = await this.#user(rawId);
    const profile = readUserDoc(patchUserDoc(userDoc(user), operations));
    return this.#userAnswer(await this.#write(user, profile, caller), 200);
  }

  async deleteUser(rawId: string, caller: ScimCaller): Promise<ScimAnswer> {
    const user = await this.#user(rawId);
    await this.#db.transaction().execute(async (trx) => {
      await markUserDeleted(trx, user.id);
      const ended = await deleteUserSessions(trx, user.id);
      await recordEvent(trx, { type: 'provisioning', userId: user.id, username: user.username, detail: `deleted; ${ended} session(s) ended`, ...caller });
    });
    return { status: 204 };
  }

  async listGroups(query: Record<string, unknown>): Promise<ScimAnswer> {
    const page = paging(query);
    const condition = typeof query.filter === 'string' && query.filter.trim() !== '' ? groupCondition(parseFilter(query.filter)) : { op: 'all' as const };
    const { groups, total } = await findGroups(this.#db, condition, page);
    const withMembers = !excluded(query, 'members');
    const resources = await Promise.all(groups.map(async (g) => scimGroup(g, withMembers ? await groupMembers(this.#db, g.id) : undefined, this.base)));
    return { status: 200, body: { schemas: [LIST_RESPONSE], totalResults: total, startIndex: page.startIndex, itemsPerPage: resources.length, Resources: resources } };
  }

  async getGroup(rawId: string, query: Record<string, unknown>): Promise<ScimAnswer> {
    const group = await this.#group(rawId);
    return this.#groupAnswer(group, 200, !excluded(query, 'members'));
  }

  async createGroup(body: unknown): Promise<ScimAnswer> {
    const input = readGroupBody(body);
    const group = await this.#db.transaction().execute(async (trx) => {
      const created = await createGroup(trx, input).catch(conflict);
      await this.#setMembers(trx, created.id, [], input.members ?? []);
      return created;
    });
    return this.#groupAnswer(group, 201, true);
  }

  async replaceGroup(rawId: string, body: unknown): Promise<ScimAnswer> {
    const input = readGroupBody(body);
    const group = await this.#group(rawId);
    const updated = await this.#db.transaction().execute(async (trx) => {
      const renamed = await updateGroup(trx, group.id, input).catch(conflict);
      await this.#setMembers(trx, group.id, await groupMemberIds(trx, group.id), input.members ?? []);
      return renamed;
    });
    return this.#groupAnswer(updated, 200, true);
  }

  async patchGroup(rawId: string, body: unknown): Promise<ScimAnswer> {
    const operations = readOperations(body);
    const group = await this.#group(rawId);
    const updated = await this.#db.transaction().execute(async (trx) => {
      const current = await groupMemberIds(trx, group.id);
      const patch = patchGroup(current, operations);
      let result: Group = group;
      if (patch.name !== undefined || patch.externalId !== undefined) {
        const name = patch.name ?? group.name;
        if (name.trim() === '' || name.length > 150) throw invalidValue('displayName must have 1 to 150 characters.');
        result = await updateGroup(trx, group.id, { name, externalId: patch.externalId === undefined ? group.external_id : patch.externalId }).catch(conflict);
      }
      await this.#setMembers(trx, group.id, current, [...patch.members]);
      return result;
    });
    // Entra and Okta read nothing from a PATCH answer; 204 spares listing a large group's members.
    return { status: 204, version: versionOf(updated.modified, updated.id) };
  }

  async deleteGroup(rawId: string): Promise<ScimAnswer> {
    const group = await this.#group(rawId);
    await this.#db.transaction().execute(async (trx) => {
      const members = await deleteGroup(trx, group.id);
      await this.#reapply(trx, members);
    });
    return { status: 204 };
  }

  async #user(rawId: string): Promise<User> {
    const user = await findDirectoryUser(this.#db, resourceId(rawId, 'User'));
    if (!user) throw notFound('User');
    return user;
  }

  async #group(rawId: string): Promise<Group> {
    const group = await findGroup(this.#db, resourceId(rawId, 'Group'));
    if (!group) throw notFound('Group');
    return group;
  }

  async #userAnswer(user: User, status: number): Promise<ScimAnswer> {
    const body = scimUser(user, await groupRefsOfUser(this.#db, user.id), this.base);
    return { status, body, version: versionOf(user.modified || user.date_joined, user.id), location: `${this.base}/Users/${user.id}` };
  }

  async #groupAnswer(group: Group, status: number, withMembers: boolean): Promise<ScimAnswer> {
    const body = scimGroup(group, withMembers ? await groupMembers(this.#db, group.id) : undefined, this.base);
    return { status, body, version: versionOf(group.modified || group.created, group.id), location: `${this.base}/Groups/${group.id}` };
  }

  /** Replace a user's directory attributes; deactivation ends their sessions in the same transaction. */
  async #write(user: User, profile: DirectoryProfile, caller: ScimCaller): Promise<User> {
    return this.#db.transaction().execute(async (trx) => {
      const updated = await replaceDirectoryUser(trx, user, profile).catch(conflict);
      if (user.is_active && !updated.is_active) {
        const ended = await deleteUserSessions(trx, user.id);
        await recordEvent(trx, { type: 'provisioning', userId: user.id, username: updated.username, detail: `deactivated; ${ended} session(s) ended`, ...caller });
      } else if (!user.is_active && updated.is_active) {
        await recordEvent(trx, { type: 'provisioning', userId: user.id, username: updated.username, detail: 'reactivated', ...caller });
      }
      return updated;
    });
  }

  /** Makes a group's members `wanted` (ids of users not deleted), and recomputes the roles of everyone who came or went. */
  async #setMembers(db: Db, groupId: number, current: readonly number[], wanted: readonly number[]): Promise<void> {
    const target = new Set(wanted);
    const have = new Set(current);
    const adding = [...target].filter((id) => !have.has(id));
    const known = await existingUserIds(db, adding);
    const unknown = adding.find((id) => !known.has(id));
    if (unknown !== undefined) throw invalidValue(`The member ${unknown} is not a user of this service.`);
    const added = await addGroupMembers(db, groupId, adding);
    const removed = await removeGroupMembers(db, groupId, current.filter((id) => !target.has(id)));
    if (added.length + removed.length > 0) await touchGroup(db, groupId);
    await this.#reapply(db, [...added, ...removed]);
  }

  async #reapply(db: Db, userIds: readonly number[]): Promise<void> {
    for (const id of userIds) {
      const user = await findUserById(db, id);
      if (user) await applyRoleRules(db, user, this.#rules);
    }
  }
}
