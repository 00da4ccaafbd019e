/**
 * Password reset mails. The form (src/web/routes/password-reset.ts) writes one outbox row whatever
 * the address, a request, and answers at once; the sender resolves it here, outside the request, into
 * one mail per account (Django's PasswordResetForm: every active user with that email and a usable
 * password; ours also need the email verified), each within the per-address limit. So the answer, and
 * the work done before it, are the same for a known address and an unknown one.
 */
import { findUserById } from '../accounts/users.ts';
import { mayResetPassword, resettableUsers } from '../accounts/password-reset.ts';
import { encodeUid, passwordResetTokens } from '../accounts/tokens.ts';
import { recordEvent } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import type { OutboxRow } from '../db/schema.ts';
import { duration, renderMail, type MailContent } from './compose.ts';
import { enqueueLimitedMail, enqueueRequest } from './outbox.ts';
import { siteOf, type MailSettings } from './settings.ts';

export const PASSWORD_RESET_REQUEST = 'password_reset_request';
export const PASSWORD_RESET = 'password_reset';

/** Who asked: for the audit log. */
export interface Requester {
  ip: string;
  userAgent: string;
}

/**
 * What the reset form does with an address: one INSERT, the same for every address.
 *
 * @example
 * await requestPasswordReset(db, form.email, { ip: request.ip, userAgent });
 */
export async function requestPasswordReset(db: Db, email: string, requester: Requester, now = Date.now()): Promise<void> {
  await enqueueRequest(db, { kind: PASSWORD_RESET_REQUEST, recipient: '', data: { email, ip: requester.ip, userAgent: requester.userAgent } }, now);
}

/**
 * In the transaction that removes the request: a mail for each account of the address (within the
 * per-address limit), and an audit event for each account, or one without an account.
 */
export async function resolveResetRequest(trx: Db, row: OutboxRow, now = Date.now()): Promise<void> {
  const { email = '', ip = '', userAgent = '' } = JSON.parse(row.data) as Record<string, string>;
  const event = { type: 'password_reset_request', method: 'local', ip, userAgent, time: row.created } as const;
  const users = await resettableUsers(trx, email);
  if (users.length === 0) {
    await recordEvent(trx, { ...event, detail: 'no active account with a password has this verified address' });
    return;
  }
  for (const user of users) {
    const queued = await enqueueLimitedMail(trx, { kind: PASSWORD_RESET, recipient: user.email, userId: user.id }, now);
    await recordEvent(trx, { ...event, userId: user.id, username: user.username, errorCode: queued ? null : 'RATE_LIMITED' });
  }
}

/** The mail with a fresh link, or null when the account may no longer reset its password by this address. */
export async function composePasswordReset(db: Db, row: OutboxRow, settings: MailSettings, now = Date.now()): Promise<MailContent | null> {
  const user = row.user_id === null ? undefined : await findUserById(db, row.user_id);
  if (!user || !mayResetPassword(user) || user.email_key !== row.recipient_key) return null;
  const token = passwordResetTokens(settings.sessionSecret, settings.passwordResetTimeoutSeconds).make(user, now);
  const site = siteOf(settings);
  return renderMail('password_reset', `Password reset on ${site}`, {
    brand: settings.brand,
    site,
    url: `${settings.appUrl}/accounts/reset/${encodeUid(user.id)}/${token}/`,
    username: user.username,
    validFor: duration(settings.passwordResetTimeoutSeconds),
  });
}
