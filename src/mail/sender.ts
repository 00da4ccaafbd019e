/**
 * The sender: each instance runs one, which sends what the outbox holds (./outbox.ts). It takes a
 * row's lease before touching it, so across instances each mail has one sender at a time and goes out
 * once; it retries a mail the server could not take, later and later (RETRY_DELAYS_MS), and gives up
 * after a day, or at once when the server refuses the recipient or the message for good (an SMTP 5xx
 * answer to RCPT or DATA), with a `mail_failed` audit event. It works from the database only, so a
 * restart, or another instance, takes over where it stopped.
 *
 * It wakes when a row of its own instance is due (the reset form wakes it once its answer has gone)
 * and at the earliest next attempt in the outbox, and looks at least every IDLE_MS for rows another
 * instance left behind.
 */
import { AsyncResource } from 'node:async_hooks';
import { findUserById } from '../accounts/users.ts';
import { recordEvent } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import type { OutboxRow } from '../db/schema.ts';
import { causeMessages } from '../errors.ts';
import { outgoingMail, type MailContent } from './compose.ts';
import { composeEmailVerification, EMAIL_VERIFICATION } from './email-verification.ts';
import { claimMail, dueMails, finishMail, nextDue, removeMail, retryMail, type Lease } from './outbox.ts';
import { composePasswordReset, PASSWORD_RESET, PASSWORD_RESET_REQUEST, resolveResetRequest } from './password-reset.ts';
import type { MailSettings } from './settings.ts';
import { isPermanentRefusal, type MailTransport } from './transport.ts';

/** After the 1st, 2nd… failed attempt; the last delay repeats until a day has passed. */
export const RETRY_DELAYS_MS = [5_000, 15_000, 60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, 60 * 60_000] as const;
/** A mail not sent within a day of its making is given up. */
export const GIVE_UP_AFTER_MS = 24 * 60 * 60 * 1000;
/** Longer than a send can take (SEND_TIMEOUT_MS), so no second instance takes a mail while it is being sent. */
export const LEASE_MS = 2 * 60_000;
const SEND_TIMEOUT_MS = 90_000;
/** At least this often the outbox is read for rows another instance left. */
const IDLE_MS = 30_000;
/** The shortest wait between passes that found nothing to do. */
const MIN_WAIT_MS = 250;
const BATCH = 20;
/** A bound on one pass, so that a pass always ends and the timers get their turn. */
const MAX_BATCHES_PER_PASS = 50;
/** How long stop() lets a send in progress finish before it is aborted (and retried later). */
const STOP_GRACE_MS = 5_000;

/**
 * The delay before attempt `failures + 1`, with up to 20 % added at random so that mails that failed
 * together are not all tried again at the same moment.
 */
export function retryDelay(failures: number, random = Math.random()): number {
  const base = RETRY_DELAYS_MS[Math.min(Math.max(failures, 1), RETRY_DELAYS_MS.length) - 1]!;
  return Math.round(base * (1 + 0.2 * random));
}

/** What each kind of row is: a request resolved into mails, or a mail whose words are made when it is sent. */
type Kind =
  | { resolve(trx: Db, row: OutboxRow, now: number): Promise<void> }
  | { compose(db: Db, row: OutboxRow, settings: MailSettings, now: number): Promise<MailContent | null> };

const KINDS: Readonly<Record<string, Kind>> = {
  [PASSWORD_RESET_REQUEST]: { resolve: resolveResetRequest },
  [PASSWORD_RESET]: { compose: composePasswordReset },
  [EMAIL_VERIFICATION]: { compose: composeEmailVerification },
};

export interface MailSenderOptions {
  db: Db;
  transport: MailTransport;
  settings: MailSettings;
  log: { info(details: object, message: string): void; warn(details: object, message: string): void };
  /** The clock (tests move it forward). */
  now?: () => number;
}

export interface MailSender {
  /** Looks at the outbox soon: a row was just added here. */
  wake(): void;
  /** One pass over the due rows now, after any pass in progress; resolves when they are done. */
  runOnce(): Promise<void>;
  /** Stops; a send in progress may finish for a few seconds, then it is aborted and left to be tried again. */
  stop(): Promise<void>;
}

/**
 * Starts the sender; it looks at the outbox at once, for rows left from before a restart.
 *
 * @example
 * const sender = startMailSender({ db, transport, settings: mailSettings(config, 'oidc-connect'), log });
 * app.addHook('onClose', () => sender.stop());
 */
export function startMailSender(options: MailSenderOptions): MailSender {
  const { db, transport, settings, log } = options;
  const now = options.now ?? Date.now;
  /** Aborts a send in progress when stop() has waited long enough. */
  const abortSends = new AbortController();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let again = false;

  const schedule = (delay: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(pump, Math.max(0, Math.min(delay, IDLE_MS)));
    timer.unref();
  };

  /**
   * One pass: the due rows, batch after batch while there are more (the mails of a request it
   * resolves are due at once); returns when the outbox should be looked at next, in ms from now.
   */
  const pass = async (): Promise<number> => {
    for (let batches = 0; batches < MAX_BATCHES_PER_PASS; batches++) {
      const rows = await dueMails(db, BATCH, now());
      let resolved = false;
      for (const row of rows) {
        if (stopped) return 0;
        const lease = await claimMail(db, row.id, LEASE_MS, now());
        if (lease && (await handle(row, lease))) resolved = true;
      }
      if (rows.length < BATCH && !resolved) break;
    }
    const due = await nextDue(db);
    // Never sooner than MIN_WAIT_MS: a row due by another instance's clock must not make this one spin.
    return due === undefined ? IDLE_MS : Math.max(due - now(), MIN_WAIT_MS);
  };

  /** Runs a pass unless one is running, which then runs once more when it ends. */
  const runPass = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    again = false;
    running = pass().then(
      (delay) => schedule(again ? 0 : delay),
      (error: unknown) => {
        log.warn({ err: error }, 'mail sender: the outbox could not be read; trying again shortly');
        schedule(RETRY_DELAYS_MS[0]);
      },
    ).finally(() => {
      running = null;
    });
    return running;
  };

  // Bound to the sender's own async context, never to that of the request that woke it: what a
  // request starts ends with it, and the sender's queries never count as the request's.
  const pump = AsyncResource.bind(() => {
    if (!stopped) void runPass();
  });

  /** Sends, retries, resolves or gives up one leased row; true when it resolved a request into mails. */
  const handle = async (row: OutboxRow, lease: Lease): Promise<boolean> => {
    const kind = KINDS[row.kind];
    try {
      if (now() - row.created >= GIVE_UP_AFTER_MS) {
        await giveUp(row, lease, row.last_error || 'not sent within a day');
      } else if (kind === undefined) {
        // A kind from a newer version during a rolling update: left for an instance that knows it.
        await retryMail(db, lease, now() + RETRY_DELAYS_MS.at(-1)!, `unknown kind ${row.kind}`);
      } else if ('resolve' in kind) {
        await db.transaction().execute(async (trx) => {
          if (await removeMail(trx, lease)) await kind.resolve(trx, row, now());
        });
        return true;
      } else {
        await deliver(row, lease, kind);
      }
    } catch (error) {
      // The database (or a bug) failed us mid-way: the row is tried again later, or when the lease runs out.
      log.warn({ err: error, mail: row.id, kind: row.kind }, 'mail sender: a row could not be handled; it will be tried again');
      await retryMail(db, lease, now() + retryDelay(row.attempts + 1), causeMessages(error).join(' <- ')).catch(() => {});
    }
    return false;
  };

  const deliver = async (row: OutboxRow, lease: Lease, kind: Extract<Kind, { compose: unknown }>): Promise<void> => {
    const content = await kind.compose(db, row, settings, now());
    if (content === null) {
      await finishMail(db, lease, 'dropped', 'nothing to send any more: the account changed since', now());
      return;
    }
    try {
      const answer = await transport.send(outgoingMail(row, content, settings), AbortSignal.any([AbortSignal.timeout(SEND_TIMEOUT_MS), abortSends.signal]));
      await finishMail(db, lease, 'sent', '', now());
      log.info({ mail: row.id, kind: row.kind, answer }, 'mail sent');
    } catch (error) {
      const reason = causeMessages(error).join(' <- ') || String(error);
      const retryAt = now() + retryDelay(row.attempts + 1);
      if (isPermanentRefusal(error) || retryAt - row.created >= GIVE_UP_AFTER_MS) {
        await giveUp(row, lease, reason);
        return;
      }
      await retryMail(db, lease, retryAt, reason);
      log.warn({ mail: row.id, kind: row.kind, attempts: row.attempts + 1, retryAt: new Date(retryAt).toISOString(), reason }, `mail not sent (${transport.description}); trying again later`);
    }
  };

  const giveUp = async (row: OutboxRow, lease: Lease, reason: string): Promise<void> => {
    if (!(await finishMail(db, lease, 'failed', reason, now()))) return;
    const user = row.user_id === null ? undefined : await findUserById(db, row.user_id);
    await recordEvent(db, {
      type: 'mail_failed', errorCode: 'MAIL_UNDELIVERABLE', userId: row.user_id, username: user?.username ?? '',
      detail: `${row.kind} to ${row.recipient} after ${row.attempts + 1} attempts: ${reason}`,
    });
    log.warn({ mail: row.id, kind: row.kind, attempts: row.attempts + 1, reason }, 'mail given up');
  };

  schedule(0);
  return {
    wake: () => pump(),
    async runOnce() {
      while (running) await running;
      await runPass();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const grace = setTimeout(() => abortSends.abort(), STOP_GRACE_MS);
      await running;
      clearTimeout(grace);
    },
  };
}
