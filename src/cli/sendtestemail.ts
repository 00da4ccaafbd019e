import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isEmailAddress } from '../accounts/email.ts';
import type { Config } from '../config/index.ts';
import { causeMessages, OidcConnectError } from '../errors.ts';
import { createMailTransport } from '../mail/transport.ts';

/**
 * Django's `sendtestemail`: one mail to each address, through EMAIL_URL (or the development mailbox),
 * sent at once, not through the outbox, so the answer is the server's. Prints what the server said,
 * or the failure with its causes (DNS, TCP, TLS, the login, the SMTP refusal), one `cause:` line each.
 * Returns the exit code.
 */
export async function sendTestEmail(config: Config, addresses: readonly string[], print: (line: string) => void): Promise<number> {
  if (addresses.length === 0) throw new OidcConnectError('BAD_REQUEST', 'sendtestemail needs at least one address: npx oidc-connect sendtestemail you@example.com');
  for (const address of addresses) {
    if (!isEmailAddress(address)) throw new OidcConnectError('BAD_REQUEST', `${address} is not an email address.`);
  }
  const transport = createMailTransport(config.mail);
  if (transport === null) {
    throw new OidcConnectError('MAIL_NOT_CONFIGURED', 'EMAIL_URL is not set, so no mail can be sent. Set it, e.g. EMAIL_URL=smtp://user:password@smtp.example.com:587');
  }
  let failures = 0;
  try {
    for (const to of addresses) {
      const now = new Date();
      try {
        const answer = await transport.send({
          from: config.mail.from,
          to,
          subject: `Test email from ${hostname()} on ${now.toISOString()}`,
          text: "If you're reading this, it was successful.\n",
          messageId: `<${randomBytes(18).toString('base64url')}@${new URL(config.appUrl).hostname}>`,
          date: now,
        });
        print(`Sent to ${to} through ${transport.description}: ${answer}`);
      } catch (error) {
        failures++;
        const [first = String(error), ...causes] = causeMessages(error);
        print(`Error: not sent to ${to} through ${transport.description}: ${first}`);
        for (const cause of causes) print(`  cause: ${cause}`);
      }
    }
  } finally {
    transport.close();
  }
  return failures === 0 ? 0 : 1;
}
