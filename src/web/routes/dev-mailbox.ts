/**
 * GET /dev/mailbox/: the development mailbox (src/mail/dev-mailbox.ts), where mail goes when no
 * EMAIL_URL is set, outside production, on a loopback APP_URL. Registered only then: everywhere else
 * the address is not ours. Each mail's text and links are shown; its HTML part is served alone, under
 * a Content-Security-Policy that runs nothing and loads nothing, as a mail program would show it.
 */
import type { FastifyInstance } from 'fastify';
import { OidcConnectError } from '../../errors.ts';
import type { MailboxEntry } from '../../mail/dev-mailbox.ts';
import type { AppContext } from '../context.ts';
import { userView, type MailboxView } from '../pages/views.ts';

const view = (mail: MailboxEntry): MailboxView => ({
  id: mail.id, date: mail.date.replace('T', ' ').slice(0, 19), from: mail.from, to: mail.to, subject: mail.subject, text: mail.text,
  links: mail.links, hasHtml: mail.html !== '',
});

export function devMailboxRoutes(app: FastifyInstance, ctx: AppContext): void {
  const mailbox = ctx.mail?.transport.mailbox;
  if (!mailbox || ctx.config.production) return;
  const find = (id: string): MailboxEntry => {
    const mail = mailbox.find(id);
    if (!mail) throw new OidcConnectError('NOT_FOUND', 'There is no such mail in the development mailbox.');
    return mail;
  };
  const page = (selected: MailboxEntry | null, user: Parameters<typeof userView>[0]) =>
    ctx.views.render('dev_mailbox', { user: userView(user), mails: mailbox.list(50).map(view), selected: selected && view(selected), dir: mailbox.dir });

  app.get('/dev/mailbox/', async (request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page(null, request.user)));
  app.get('/dev/mailbox/:id/', async (request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page(find((request.params as { id: string }).id), request.user)));
  app.get('/dev/mailbox/:id/html', async (request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store')
      .header('content-security-policy', "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:")
      .send(find((request.params as { id: string }).id).html));
  app.get('/dev/mailbox/:id/raw', async (request, reply) =>
    reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(find((request.params as { id: string }).id).raw));
}
