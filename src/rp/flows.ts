import type { Insertable } from 'kysely';
import type { Db } from '../db/index.ts';
import { prepared, preparedInsert } from '../db/prepared.ts';
import type { OidcFlowsTable } from '../db/schema.ts';
import { sha256Base64url as digest } from '../digest.ts';
import { OidcConnectError } from '../errors.ts';

/** A login in progress may take this long, as the issue and most providers' sessions allow. */
export const FLOW_LIFETIME_MS = 10 * 60 * 1000;

/** Logins in progress kept per browser: plenty of tabs; past it the oldest goes. */
export const MAX_FLOWS_PER_BROWSER = 20;

export interface Flow {
  provider: string;
  codeVerifier: string;
  nonce: string;
  next: string;
  /** The session (its id) that this silent prompt=none renewal confirms; null for a login. */
  renewsSession: string | null;
  /** A step-up sign-in: the `acr_values` it asked for (and must get); null or absent for an ordinary one. */
  acrValues?: readonly string[] | null;
  /** The `max_age` it asked for, which the ID token's auth_time must meet; null or absent when none. */
  maxAge?: number | null;
  /** With OIDC_DPOP: the sign-in's DPoP key, sealed (rp/session-tokens.ts); null without. */
  dpopKey: string | null;
}

export interface SaveOptions {
  /**
   * The binding was made for this login (the browser brought none): no flow can have it yet, so the
   * per-browser bound has nothing to delete and is skipped, one statement fewer per fresh login.
   */
  newBinding?: boolean;
  /** The client's address key (web: its IP, IPv6 by its /64); its flows beyond `maxPerClient` go too. */
  client?: string;
  maxPerClient?: number;
  now?: number;
}

/**
 * One row per login in flight, keyed by a hash of `state`: several tabs can each finish their own
 * login, and any instance can finish a flow another one started. Starting a login needs no account,
 * so each browser keeps its newest MAX_FLOWS_PER_BROWSER flows and each address its newest
 * `maxPerClient`: a client looping on the start URL replaces its own old rows instead of adding.
 */
export async function saveFlow(db: Db, state: string, binding: string, flow: Flow, options: SaveOptions = {}): Promise<void> {
  const { newBinding = false, client, maxPerClient, now = Date.now() } = options;
  const hashed = { binding: digest(binding), client: client === undefined ? '' : digest(client) };
  const row: Insertable<OidcFlowsTable> = {
    id: digest(state),
    provider: flow.provider,
    binding: hashed.binding,
    code_verifier: flow.codeVerifier,
    nonce: flow.nonce,
    next: flow.next,
    prompt_none: flow.renewsSession === null ? 0 : 1,
    renews_session: flow.renewsSession,
    expires: now + FLOW_LIFETIME_MS,
    client: hashed.client,
    acr_values: flow.acrValues ? flow.acrValues.join(' ') : null,
    max_age: flow.maxAge ?? null,
    dpop_key: flow.dpopKey,
  };
  // One transaction, so the writes are one commit (on SQLite, one write of its log).
  const write = async (db: Db) => {
    await insertFlow(db, row);
    if (!newBinding) await keepNewest(db, 'binding', hashed.binding, MAX_FLOWS_PER_BROWSER);
    if (client !== undefined && maxPerClient !== undefined) await keepNewest(db, 'client', hashed.client, maxPerClient);
  };
  await (db.isTransaction ? write(db) : db.transaction().execute(write));
}

/*
 * Every login runs the statements below, so they are compiled once (src/db/prepared.ts): building
 * them with Kysely at each start and callback was a tenth of a login's CPU.
 */

const insertFlow = preparedInsert('oidc_flows', [
  'id', 'provider', 'binding', 'code_verifier', 'nonce', 'next', 'prompt_none', 'renews_session', 'expires', 'client', 'acr_values', 'max_age', 'dpop_key',
]);

/**
 * Keeps the newest `keep` flows of one browser or address: counts them on the (column, expires)
 * index, and when there are more, deletes the oldest, oldest meaning the earliest `expires`, then the
 * smallest id. Starts in one millisecond share `expires`; the id orders them too, so the bound is
 * exact. (Deleting behind the keep-th newest by `expires` alone kept every flow that tied with it: a
 * browser starting two logins in one millisecond kept 21.) Sorting all of an address's flows by
 * (expires, id) to find its keep-th newest cost SQLite ten times as much with 1000 pending; the
 * delete's sort stops at the first rows. Two statements, so PostgreSQL plans the delete knowing how
 * many rows it takes (a limit computed in the statement made it guess, and hash the whole table
 * against the ids: 15 ms with 21,000 flows), and a start within the bound runs only the count.
 * Concurrent starts may each count before the other's insert, so the bound holds within the number
 * of starts in flight.
 */
async function keepNewest(db: Db, column: 'binding' | 'client', value: string, keep: number): Promise<void> {
  const [counted] = await bounds[column].count(db, { value });
  const over = Number(counted?.flows ?? 0) - keep; // PostgreSQL's count is a bigint, which pg returns as a string
  if (over > 0) await bounds[column].deleteOldest(db, { value, over });
}

function bound(column: 'binding' | 'client') {
  const of = column === 'binding' ? 'Browser' : 'Client';
  return {
    count: prepared(`oidc_flows.countOf${of}`, ['value'], (db, p) => db
      .selectFrom('oidc_flows').select((eb) => eb.fn.countAll<number | string>().as('flows')).where(column, '=', p('value'))),
    deleteOldest: prepared(`oidc_flows.deleteOldestOf${of}`, ['value', 'over'], (db, p) => db
      .deleteFrom('oidc_flows')
      .where('id', 'in', db.selectFrom('oidc_flows').select('id').where(column, '=', p('value')).orderBy('expires').orderBy('id').limit(p('over')))),
  };
}
const bounds = { binding: bound('binding'), client: bound('client') };

const deleteFlow = prepared('oidc_flows.take', ['id'], (db, p) => db.deleteFrom('oidc_flows').where('id', '=', p('id')).returningAll());

/**
 * Takes the flow for a `state` exactly once (delete-returning), so a replayed callback finds
 * nothing. The browser must present the cookie the flow was bound to: a callback URL carried
 * into another browser (login CSRF) is refused.
 */
export async function takeFlow(db: Db, state: string, binding: string | undefined, now = Date.now()): Promise<Flow> {
  const [row] = await deleteFlow(db, { id: digest(state) });
  if (!row) {
    throw new OidcConnectError('STATE_INVALID', 'This sign-in response is unknown or was already used. Please start again.');
  }
  if (row.expires <= now) {
    throw new OidcConnectError('FLOW_EXPIRED', 'This sign-in took longer than 10 minutes and has expired. Please start again.');
  }
  if (binding === undefined || digest(binding) !== row.binding) {
    throw new OidcConnectError('STATE_INVALID', 'This sign-in was started in another browser. Please start again here.');
  }
  return {
    provider: row.provider, codeVerifier: row.code_verifier, nonce: row.nonce, next: row.next, renewsSession: row.renews_session,
    ...(row.acr_values === null ? {} : { acrValues: row.acr_values.split(' ') }), ...(row.max_age === null ? {} : { maxAge: row.max_age }),
    dpopKey: row.dpop_key,
  };
}

/** The provider a pending flow is for, without taking it; undefined when `state` names none. */
export async function flowProvider(db: Db, state: string): Promise<string | undefined> {
  const row = await db.selectFrom('oidc_flows').select('provider').where('id', '=', digest(state)).executeTakeFirst();
  return row?.provider;
}

/** Deletes abandoned logins (housekeeping); returns how many went. */
export async function pruneFlows(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('oidc_flows').where('expires', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
