/**
 * The refresh lease in the session row: while one instance refreshes a session's provider tokens,
 * the others wait for its result, so a rotated refresh token is never used twice and lost. The
 * provider call itself is in src/rp/refresh.ts; this module only keeps the row.
 */
import type { Db } from '../db/index.ts';
import type { ActiveSession, ProviderTokens } from './index.ts';

/** Refresh a little before expiry, so a request never carries a token that dies on its way. */
const EARLY_MS = 30_000;
/** How long one instance may hold a session's refresh lease. */
const LEASE_MS = 15_000;
const POLL_MS = 100;

export type RefreshOutcome = 'fresh' | 'refreshed' | 'ended' | 'unavailable';

export function needsRefresh(tokens: ProviderTokens, now = Date.now()): boolean {
  return tokens.refreshToken !== undefined && tokens.expiresAt !== undefined && now >= tokens.expiresAt - EARLY_MS;
}

/** Takes the lease unless another instance holds a live one; true when this caller now holds it. */
export async function takeRefreshLease(db: Db, sessionId: string, now = Date.now()): Promise<boolean> {
  const leased = await db.updateTable('sessions')
    .set({ refresh_lock: now + LEASE_MS })
    .where('id', '=', sessionId)
    .where((eb) => eb.or([eb('refresh_lock', 'is', null), eb('refresh_lock', '<', now)]))
    .executeTakeFirst();
  return Number(leased.numUpdatedRows) === 1;
}

/** The tokens stored now (another instance may have refreshed them), or undefined when the session ended. */
export async function storedTokens(db: Db, sessionId: string): Promise<ProviderTokens | undefined> {
  const row = await db.selectFrom('sessions').select('data').where('id', '=', sessionId).executeTakeFirst();
  return row ? JSON.parse(row.data) as ProviderTokens : undefined;
}

/** Stores refreshed tokens and releases the lease in one write. */
export async function writeRefreshedTokens(db: Db, sessionId: string, tokens: ProviderTokens): Promise<void> {
  await db.updateTable('sessions').set({ data: JSON.stringify(tokens), refresh_lock: null }).where('id', '=', sessionId).execute();
}

export async function releaseRefreshLease(db: Db, sessionId: string): Promise<void> {
  await db.updateTable('sessions').set({ refresh_lock: null }).where('id', '=', sessionId).execute();
}

/** Waits, at most one lease long, for the instance holding the lease; then takes up its tokens. */
export async function waitForRefresh(db: Db, session: ActiveSession): Promise<RefreshOutcome> {
  const deadline = Date.now() + LEASE_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const row = await db.selectFrom('sessions').select(['data', 'refresh_lock']).where('id', '=', session.id).executeTakeFirst();
    if (!row) return 'ended';
    if (row.refresh_lock === null || row.refresh_lock < Date.now()) {
      session.tokens = JSON.parse(row.data) as ProviderTokens;
      return needsRefresh(session.tokens) ? 'unavailable' : 'refreshed';
    }
  }
  return 'unavailable';
}
