import type { Db } from '../db/index.ts';
import type { OidcFlowsTable } from '../db/schema.ts';
import { sha256Base64url as digest } from '../digest.ts';
import { OidcConnectError } from '../errors.ts';

/** A login in progress may take this long, as the issue and most providers' sessions allow. */
export const FLOW_LIFETIME_MS = 10 * 60 * 1000;

export interface Flow {
  provider: string;
  codeVerifier: string;
  nonce: string;
  next: string;
  /** The session (its id) that this silent prompt=none renewal confirms; null for a login. */
  renewsSession: string | null;
}

/**
 * One row per login in flight, keyed by a hash of `state`: several tabs can each finish their own
 * login, and any instance can finish a flow another one started.
 */
export async function saveFlow(db: Db, state: string, binding: string, flow: Flow, now = Date.now()): Promise<void> {
  const row: OidcFlowsTable = {
    id: digest(state),
    provider: flow.provider,
    binding: digest(binding),
    code_verifier: flow.codeVerifier,
    nonce: flow.nonce,
    next: flow.next,
    prompt_none: flow.renewsSession === null ? 0 : 1,
    renews_session: flow.renewsSession,
    expires: now + FLOW_LIFETIME_MS,
  };
  await db.insertInto('oidc_flows').values(row).execute();
}

/**
 * Takes the flow for a `state` exactly once (delete-returning), so a replayed callback finds
 * nothing. The browser must present the cookie the flow was bound to: a callback URL carried
 * into another browser (login CSRF) is refused.
 */
export async function takeFlow(db: Db, state: string, binding: string | undefined, now = Date.now()): Promise<Flow> {
  const row = await db.deleteFrom('oidc_flows').where('id', '=', digest(state)).returningAll().executeTakeFirst();
  if (!row) {
    throw new OidcConnectError('STATE_INVALID', 'This sign-in response is unknown or was already used. Please start again.');
  }
  if (row.expires <= now) {
    throw new OidcConnectError('FLOW_EXPIRED', 'This sign-in took longer than 10 minutes and has expired. Please start again.');
  }
  if (binding === undefined || digest(binding) !== row.binding) {
    throw new OidcConnectError('STATE_INVALID', 'This sign-in was started in another browser. Please start again here.');
  }
  return { provider: row.provider, codeVerifier: row.code_verifier, nonce: row.nonce, next: row.next, renewsSession: row.renews_session };
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
