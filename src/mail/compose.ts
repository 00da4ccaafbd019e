/**
 * A mail's words: a plain-text part and an HTML part, in the pages' look (their colours, card and
 * button, as inline styles, since mail programs drop style sheets), from the templates beside this file.
 * The HTML part escapes every value (Eta's autoEscape); the text part has nothing to escape.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { OutboxRow } from '../db/schema.ts';
import type { OutgoingMail } from './transport.ts';

const TEMPLATES = fileURLToPath(new URL('./templates', import.meta.url));
const html = new Eta({ views: TEMPLATES, cache: true, autoEscape: true });
const text = new Eta({ views: TEMPLATES, cache: true, autoEscape: false, autoTrim: false });

export type MailTemplate = 'password_reset' | 'email_verification';

export interface MailContent {
  subject: string;
  text: string;
  html: string;
  /** The mail's action links. */
  links: string[];
}

/** What every template gets: the brand (pages' header), the site (APP_URL's host), and its own values. */
export interface TemplateData {
  brand: string;
  site: string;
  url: string;
  username: string;
  /** "1 hour", "3 days". */
  validFor: string;
}

export function renderMail(template: MailTemplate, subject: string, data: TemplateData): MailContent {
  return {
    subject,
    text: text.render(`./${template}.txt.eta`, data),
    html: html.render(`./${template}.html.eta`, data),
    links: [data.url],
  };
}

/** "1 hour", "90 minutes", "3 days": how long a link works, in words. */
export function duration(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds % 86_400 === 0) return unit(seconds / 86_400, 'day');
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}

/**
 * The mail an outbox row becomes: from DEFAULT_FROM_EMAIL, to the row's recipient, with the row's own
 * Message-ID under APP_URL's host and the row's creation as its Date, so every attempt is the same message.
 */
export function outgoingMail(row: Pick<OutboxRow, 'recipient' | 'message_id' | 'created'>, content: MailContent, settings: { from: string; appUrl: string }): OutgoingMail {
  return {
    from: settings.from,
    to: row.recipient,
    subject: content.subject,
    text: content.text,
    html: content.html,
    messageId: `<${row.message_id}@${new URL(settings.appUrl).hostname}>`,
    date: new Date(row.created),
    links: content.links,
  };
}
