/**
 * The development mailbox: where mail goes when no EMAIL_URL is set outside production, as Django's
 * file-based email backend keeps mail in files. Each mail is a JSON file in DATA_DIR/mailbox/ holding
 * the message as it would have been sent (its MIME source, with Message-ID and Date) and its parts,
 * which /dev/mailbox/ shows with clickable links; so a newcomer can try a password reset with no mail
 * server, and the mail survives a restart. Only the newest KEEP mails are kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MailboxEntry {
  /** The file's name without .json: the mail's address on /dev/mailbox/. */
  id: string;
  /** ISO 8601. */
  date: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The mail's action links (a reset or verification link). */
  links: string[];
  /** The MIME message as an SMTP server would have received it. */
  raw: string;
}

export const KEEP = 100;
const ID = /^\d{13}-[\w-]{8}$/;

export interface DevMailbox {
  readonly dir: string;
  store(mail: Omit<MailboxEntry, 'id'>, now?: number): MailboxEntry;
  /** The newest mails first, at most `limit`. */
  list(limit?: number): MailboxEntry[];
  /** One mail by id, or undefined. */
  find(id: string): MailboxEntry | undefined;
}

/**
 * @example
 * const mailbox = devMailbox(join(config.dataDir, 'mailbox'));
 * mailbox.list(10).map((mail) => mail.subject);
 */
export function devMailbox(dir: string): DevMailbox {
  const ids = (): string[] => {
    try {
      return readdirSync(dir).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5)).filter((id) => ID.test(id)).sort().reverse();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  const read = (id: string): MailboxEntry | undefined => {
    try {
      return { ...(JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as Omit<MailboxEntry, 'id'>), id };
    } catch {
      return undefined; // removed meanwhile, or written half by a process that died
    }
  };
  return {
    dir,
    store(mail, now = Date.now()) {
      mkdirSync(dir, { recursive: true });
      const id = `${String(now).padStart(13, '0')}-${randomBytes(6).toString('base64url')}`;
      writeFileSync(join(dir, `${id}.json`), JSON.stringify(mail), { mode: 0o600 });
      for (const old of ids().slice(KEEP)) rmSync(join(dir, `${old}.json`), { force: true });
      return { ...mail, id };
    },
    list(limit = KEEP) {
      return ids().slice(0, limit).map(read).filter((entry) => entry !== undefined);
    },
    find(id) {
      return ID.test(id) ? read(id) : undefined;
    },
  };
}
