import type { Db } from './index.ts';

/** Each sweep runs in one process at most this often (the first call after start runs it). */
export const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const lastSweep = new WeakMap<Db, Map<string, number>>();

/**
 * Opportunistic clean-up of expired rows (sessions, flows, audit events): true when this call is
 * the one that should sweep `task` now. The check is in memory; several instances each sweeping
 * hourly is harmless, as every sweep is an indexed range delete.
 */
export function sweepDue(db: Db, task: string, now = Date.now()): boolean {
  let tasks = lastSweep.get(db);
  if (!tasks) lastSweep.set(db, (tasks = new Map()));
  const last = tasks.get(task);
  if (last !== undefined && now - last < SWEEP_INTERVAL_MS) return false;
  tasks.set(task, now);
  return true;
}
