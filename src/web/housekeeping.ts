/**
 * The one schedule that sweeps expired rows: each table's owner deletes its own, this module only
 * says when. Every instance sweeps at start and then every SWEEP_INTERVAL_MS; each sweep is a few
 * indexed range deletes, usually of nothing, so several instances sweeping the same database is
 * harmless. Rows left between sweeps are refused anyway by the checks that read them.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pruneLoginFailures, type LockoutPolicy } from '../accounts/lockout.ts';
import { pruneAuditLog } from '../audit/index.ts';
import { pruneChangeLog } from '../db/change-log.ts';
import type { Db } from '../db/index.ts';
import { pruneOutbox } from '../mail/outbox.ts';
import { prunePendingSignIns } from '../mfa/pending.ts';
import { pruneUsedChallenges } from '../mfa/webauthn.ts';
import { pruneDpopProofs } from '../rp/bearer/dpop-replay.ts';
import { pruneFlows } from '../rp/flows.ts';
import { pruneLogoutTokens } from '../rp/logout-token.ts';
import { pruneExchangedTokens } from '../sessions/exchanged-tokens.ts';
import { deleteExpiredSessions } from '../sessions/index.ts';

export const SWEEP_INTERVAL_MS = 5 * 60 * 1000;

export interface HousekeepingOptions {
  db: Db;
  lockout: LockoutPolicy;
  /** AUDIT_RETENTION_DAYS; 0 keeps the audit log forever. */
  auditRetentionDays: number;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
}

/** Runs every owner's prune once, one after the other; a failing one is logged and the rest still run. */
export async function sweep(options: HousekeepingOptions, now = Date.now()): Promise<Record<string, number>> {
  const { db, log } = options;
  const tasks: [string, () => Promise<number>][] = [
    ['sessions', () => deleteExpiredSessions(db, now)],
    ['session_tokens', () => pruneExchangedTokens(db, now)],
    ['oidc_flows', () => pruneFlows(db, now)],
    ['logout_tokens', () => pruneLogoutTokens(db, now)],
    ['dpop_proofs', () => pruneDpopProofs(db, now)],
    ['audit_log', () => pruneAuditLog(db, options.auditRetentionDays, now)],
    ['login_failures', () => pruneLoginFailures(db, options.lockout, now)],
    ['change_log', () => pruneChangeLog(db, now)],
    ['mail_outbox', () => pruneOutbox(db, now)],
    ['mfa_pending', () => prunePendingSignIns(db, now)],
    ['mfa_used_challenges', () => pruneUsedChallenges(db, now)],
  ];
  const pruned: Record<string, number> = {};
  for (const [table, run] of tasks) {
    try {
      const count = await run();
      if (count > 0) pruned[table] = count;
    } catch (error) {
      log.warn({ err: error, table }, 'housekeeping: sweeping expired rows failed');
    }
  }
  if (Object.keys(pruned).length > 0) log.info({ pruned }, 'housekeeping: expired rows swept');
  return pruned;
}

export interface Housekeeping {
  /** Stops the schedule and waits for a sweep in progress, so the database may be closed next. */
  stop(): Promise<void>;
}

/**
 * Sweeps now and then every `intervalMs`. A sweep still running when the next is due is not
 * doubled. The timers are unref'd: they never keep a process alive.
 */
export function startHousekeeping(options: HousekeepingOptions, intervalMs = SWEEP_INTERVAL_MS): Housekeeping {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const run = () => {
    if (stopped || running) return;
    running = sweep(options).finally(() => { running = null; });
  };
  const first = setTimeout(run, 0).unref();
  const timer = setInterval(run, intervalMs).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
