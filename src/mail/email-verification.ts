/**
 * Email verification mails: a user who enters an address on their account page gets a link at it
 * (src/web/routes/account.ts), and until they follow it the address is nobody's link target or
 * reset address (src/accounts/email-verification.ts).
 */
import { setEmail } from '../accounts/email-verification.ts';
import { emailVerificationTokens, EMAIL_VERIFICATION_TIMEOUT_SECONDS, encodeUid } from '../accounts/tokens.ts';
import { findUserById } from '../accounts/users.ts';
import { recordEvent } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import type { OutboxRow, User } from '../db/schema.ts';
import { duration, renderMail, type MailContent } from './compose.ts';
import { enqueueLimitedMail } from './outbox.ts';
import type { Requester } from './password-reset.ts';
import { siteOf, type MailSettings } from './settings.ts';

export const EMAIL_VERIFICATION = 'email_verification';

/**
 * Sets the user's email as they entered it, unverified, and queues its verification mail, in one
 * transaction with the audit event. The answer is the same whether or not the address is over its
 * hourly limit (the mail is then dropped), so it tells nothing of mail others caused.
 *
 * @example
 * await changeEmail(db, user, 'carol@example.org', { ip, userAgent });
 */
export async function changeEmail(db: Db, user: User, email: string, requester: Requester): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await setEmail(trx, user.id, email, { verified: false });
    const queued = await enqueueLimitedMail(trx, { kind: EMAIL_VERIFICATION, recipient: email, userId: user.id });
    await recordEvent(trx, {
      type: 'email_change', method: 'local', userId: user.id, username: user.username, ...requester,
      errorCode: queued ? null : 'RATE_LIMITED', detail: 'verification link sent',
    });
  });
}

/** Sends the link again for the user's unverified email. */
export async function resendVerification(db: Db, user: User, requester: Requester): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const queued = await enqueueLimitedMail(trx, { kind: EMAIL_VERIFICATION, recipient: user.email, userId: user.id });
    await recordEvent(trx, {
      type: 'email_change', method: 'local', userId: user.id, username: user.username, ...requester,
      errorCode: queued ? null : 'RATE_LIMITED', detail: 'verification link sent again',
    });
  });
}

/** The mail with a fresh link, or null when the address was verified or changed meanwhile. */
export async function composeEmailVerification(db: Db, row: OutboxRow, settings: MailSettings, now = Date.now()): Promise<MailContent | null> {
  const user = row.user_id === null ? undefined : await findUserById(db, row.user_id);
  if (!user || user.email_verified === 1 || user.email_key !== row.recipient_key || user.email_key === '') return null;
  const token = emailVerificationTokens(settings.sessionSecret).make(user, now);
  const site = siteOf(settings);
  return renderMail('email_verification', `Confirm your email address on ${site}`, {
    brand: settings.brand,
    site,
    url: `${settings.appUrl}/accounts/email/verify/${encodeUid(user.id)}/${token}/`,
    username: user.username,
    validFor: duration(EMAIL_VERIFICATION_TIMEOUT_SECONDS),
  });
}
