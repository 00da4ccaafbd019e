/**
 * Where a mail goes once it leaves the outbox: EMAIL_URL's SMTP server through nodemailer's SMTP
 * transport, or the development mailbox (./dev-mailbox.ts). Nothing here retries: the sender
 * (./sender.ts) does, from the outbox.
 */
import { rootCertificates } from 'node:tls';
import nodemailer from 'nodemailer';
import type { MailConfig, SmtpSettings } from '../config/index.ts';
import { devMailbox, type DevMailbox } from './dev-mailbox.ts';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  /** The HTML alternative, when there is one. */
  html?: string;
  /** `<…@host>`: the same at every attempt, so a server or a reader can tell a repeat. */
  messageId: string;
  date: Date;
  /** The mail's action links, printed by the development mailbox. */
  links?: readonly string[];
}

export interface MailTransport {
  /** Where the mail goes, for messages: `smtp://…@host:587`, or the development mailbox. */
  readonly description: string;
  /** The development mailbox when that is where mail goes. */
  readonly mailbox: DevMailbox | null;
  /** Sends one mail; resolves with what the server answered ("250 2.0.0 Ok: queued as …"), rejects with its refusal or the network's failure. */
  send(mail: OutgoingMail, signal?: AbortSignal): Promise<string>;
  /** Connects, says hello, upgrades to TLS and logs in as a send would, without sending. */
  verify(): Promise<void>;
  close(): void;
}

/**
 * An SMTP refusal that no retry changes: a 5xx answer to the recipient (nodemailer's EENVELOPE) or to
 * the message (EMESSAGE). A 5xx to the login or a TLS failure is a setting to fix, so it is retried.
 */
export function isPermanentRefusal(error: unknown): boolean {
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  return typeof responseCode === 'number' && responseCode >= 500 && (code === 'EENVELOPE' || code === 'EMESSAGE');
}

/** Short enough that a dead server can't hold a send, or the lease on it, for long. */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

/**
 * The transport for the configured mail (config.mail.transport), or null when mail is not set up.
 * `onMailbox` hears of each mail the development mailbox takes (the runtime prints its links).
 *
 * @example
 * const transport = createMailTransport(config.mail);
 * const answer = await transport?.send({ from, to, subject, text, messageId: '<1@example.com>', date: new Date() });
 */
export function createMailTransport(mail: Pick<MailConfig, 'transport'>, onMailbox?: (mail: OutgoingMail) => void): MailTransport | null {
  const settings = mail.transport;
  if (settings === null) return null;
  if (settings.kind === 'mailbox') return mailboxTransport(devMailbox(settings.dir), onMailbox);
  return smtpTransport(settings);
}

function smtpTransport(settings: SmtpSettings): MailTransport {
  const transporter = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTls,
    ...(settings.auth ? { auth: { user: settings.auth.user, pass: settings.auth.pass } } : {}),
    // A private CA is trusted besides the system's: Node's `ca` alone would replace them.
    tls: { minVersion: 'TLSv1.2', ...(settings.ca ? { ca: [...rootCertificates, settings.ca] } : {}) },
    ...TIMEOUTS,
    // Our mails never attach files or URLs; nodemailer must not read either.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    description: settings.display,
    mailbox: null,
    async send(mail, signal) {
      const info = await transporter.sendMail({ ...message(mail), ...(signal ? { signal } : {}) });
      return info.response;
    },
    async verify() {
      await transporter.verify();
    },
    close: () => transporter.close(),
  };
}

function message(mail: OutgoingMail) {
  return {
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    ...(mail.html !== undefined ? { html: mail.html } : {}),
    messageId: mail.messageId,
    date: mail.date,
  };
}

function mailboxTransport(mailbox: DevMailbox, onMailbox?: (mail: OutgoingMail) => void): MailTransport {
  // nodemailer builds the MIME message an SMTP server would have received, headers and all.
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix', disableFileAccess: true, disableUrlAccess: true });
  return {
    description: `the development mailbox (${mailbox.dir}, shown at /dev/mailbox/)`,
    mailbox,
    async send(mail) {
      const info = await builder.sendMail(message(mail));
      const entry = mailbox.store({
        date: mail.date.toISOString(), from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? '',
        links: [...(mail.links ?? [])], raw: info.message.toString('utf8'),
      });
      onMailbox?.(mail);
      return `stored in the development mailbox as ${entry.id}`;
    },
    async verify() {},
    close: () => builder.close(),
  };
}
