/**
 * The refresh lease in the session row: while one instance refreshes a session's provider tokens,
 * the others wait for its result, so a rotated refresh token is never used twice and lost. The
 * provider call itself is in src/rp/refresh.ts; this module only keeps the row.
 */
import { changing } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { ActiveSession } from './index.ts';
import { parseTokens, serializeTokens, type StoredTokens } from './tokens.ts';

/** Refresh a little before expiry, so a request never carries a token that dies on its way. */
export const EARLY_MS = 30_000;
/** How long a request waits for another instance's refresh before going on with the tokens it has. */
const WAIT_MS = 15_000;
const POLL_MS = 100;

export type RefreshOutcome = 'fresh' | 'refreshed' | 'ended' | 'unavailable';

/** A lease held: its value in the row (its expiry, epoch ms), which every later write must match. */
export type RefreshLease = number;

/** A refresh token is kept and the access token has less than `marginMs` left. */
export function needsRefresh(tokens: StoredTokens, now = Date.now(), marginMs = EARLY_MS): boolean {
  return tokens.refreshable === true && tokens.expiresAt !== undefined && now >= tokens.expiresAt - marginMs;
}

/** Takes the lease for `leaseMs` unless another instance holds a live one; null when it does. */
export async function takeRefreshLease(db: Db, sessionId: string, leaseMs: number, now = Date.now()): Promise<RefreshLease | null> {
  const lease = now + leaseMs;
  const leased = await db.updateTable('sessions')
    .set({ refresh_lock: lease })
    .where('id', '=', sessionId)
    .where((eb) => eb.or([eb('refresh_lock', 'is', null), eb('refresh_lock', '<', now)]))
    .executeTakeFirst();
  return Number(leased.numUpdatedRows) === 1 ? lease : null;
}

/** The tokens stored now (another instance may have refreshed them), or undefined when the session ended. */
export async function storedTokens(db: Db, sessionId: string): Promise<StoredTokens | undefined> {
  const row = await db.selectFrom('sessions').select('data').where('id', '=', sessionId).executeTakeFirst();
  return row ? parseTokens(row.data) : undefined;
}

/**
 * Stores refreshed tokens and releases the lease in one write, only while the lease is still ours:
 * false when it lapsed and another instance took it (its tokens win; ours are dropped). Every
 * instance's session cache drops the old tokens (src/db/change-feed.ts).
 */
export async function writeRefreshedTokens(db: Db, sessionId: string, tokens: StoredTokens, lease: RefreshLease): Promise<boolean> {
  return changing(db, async (db) => {
    const written = await db.updateTable('sessions')
      .set({ data: serializeTokens(tokens), refresh_lock: null })
      .where('id', '=', sessionId)
      .where('refresh_lock', '=', lease)
      .executeTakeFirst();
    return Number(written.numUpdatedRows) === 1;
  }, (written) => (written ? [{ kind: 'session', id: sessionId }] : []));
}

/**
 * Ends a session whose refresh the provider refused, only while the lease is ours: false when another
 * instance took over, whose refresh (perhaps with the rotated token ours no longer had) decides.
 */
export async function endSessionUnderLease(db: Db, sessionId: string, lease: RefreshLease): Promise<boolean> {
  return changing(db, async (db) => {
    const deleted = await db.deleteFrom('sessions').where('id', '=', sessionId).where('refresh_lock', '=', lease).executeTakeFirst();
    return Number(deleted.numDeletedRows) === 1;
  }, (ended) => (ended ? [{ kind: 'session', id: sessionId }] : []));
}

/** Gives the lease back, unless it already passed to another instance. */
export async function releaseRefreshLease(db: Db, sessionId: string, lease: RefreshLease): Promise<void> {
  await db.updateTable('sessions').set({ refresh_lock: null }).where('id', '=', sessionId).where('refresh_lock', '=', lease).execute();
}

/**
 * Waits, at most WAIT_MS, for the instance holding the lease; then takes up its tokens, which must
 * have more than `marginMs` left.
 */
export async function waitForRefresh(db: Db, session: ActiveSession, marginMs = EARLY_MS): Promise<RefreshOutcome> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const row = await db.selectFrom('sessions').select(['data', 'refresh_lock']).where('id', '=', session.id).executeTakeFirst();
    if (!row) return 'ended';
    if (row.refresh_lock === null || row.refresh_lock < Date.now()) {
      session.tokens = parseTokens(row.data);
      return needsRefresh(session.tokens, Date.now(), marginMs) ? 'unavailable' : 'refreshed';
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return 'unavailable';
}
