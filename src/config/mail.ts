/**
 * Outgoing mail's settings: EMAIL_URL (the SMTP server), DEFAULT_FROM_EMAIL and PASSWORD_RESET_TIMEOUT,
 * Django's names where Django has one. Where mail goes when EMAIL_URL is unset depends on the setting:
 * the development mailbox (a page at /dev/mailbox/) outside production on a loopback APP_URL, else
 * nowhere, and the pages that would send mail say that reset by email is not set up.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Env } from './env.ts';
import { Problems, integer, isLoopbackHost, text } from './parse.ts';
import type { MailConfig, SmtpSettings } from './types.ts';

const DEFAULT_RESET_TIMEOUT_SECONDS = 3600;
/** Django's PasswordResetForm and EmailField take addresses of at most 254 characters. */
export const MAX_EMAIL_LENGTH = 254;

export function parseMail(env: Env, problems: Problems, context: { cwd: string; production: boolean; appUrl: string; dataDir: string }): MailConfig {
  const appHost = URL.canParse(context.appUrl) ? new URL(context.appUrl).hostname : 'localhost';
  const raw = text(env, 'EMAIL_URL');
  let transport: MailConfig['transport'] = null;
  if (raw !== undefined) {
    transport = parseEmailUrl(raw, problems, context);
  } else if (!context.production && isLoopbackHost(appHost)) {
    // Only on a loopback APP_URL: a server left without NODE_ENV=production on a public address must
    // not show everybody's reset links on a page.
    transport = { kind: 'mailbox', dir: join(context.dataDir, 'mailbox') };
  }
  return {
    transport,
    // An address literal is no mail domain (`noreply@[::1]` is not an address): Django's own default host is localhost.
    from: parseFrom(text(env, 'DEFAULT_FROM_EMAIL') ?? `noreply@${isIP(appHost.replace(/^\[|\]$/g, '')) ? 'localhost' : appHost}`, problems),
    passwordResetTimeoutSeconds: integer(env, problems, 'PASSWORD_RESET_TIMEOUT', DEFAULT_RESET_TIMEOUT_SECONDS, 60, 30 * 24 * 3600),
  };
}

const SCHEMES: Record<string, { secure: boolean; port: number }> = {
  'smtp:': { secure: false, port: 587 },
  'smtps:': { secure: true, port: 465 },
};

function parseEmailUrl(raw: string, problems: Problems, context: { cwd: string; production: boolean }): SmtpSettings | null {
  const fix = 'must be smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465, optionally with ?ca=/path/to/ca.pem';
  const url = URL.parse(raw);
  const scheme = url ? SCHEMES[url.protocol] : undefined;
  if (!url || !scheme || url.hostname === '') {
    problems.add('EMAIL_URL', raw, fix);
    return null;
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.hash !== '') {
    problems.add('EMAIL_URL', raw, `has a path or fragment; ${fix}`);
    return null;
  }
  const unknown = [...url.searchParams.keys()].filter((key) => key !== 'ca');
  if (unknown.length > 0) {
    problems.add('EMAIL_URL', raw, `unknown parameter ${unknown.join(', ')}; the only one is ?ca=/path/to/ca.pem`);
    return null;
  }
  let ca: string | undefined;
  const caFile = url.searchParams.get('ca');
  if (caFile !== null) {
    ca = readCa(resolve(context.cwd, caFile), raw, problems);
    if (ca === undefined) return null;
  }
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    problems.add('EMAIL_URL', raw, 'the user name or password is not valid percent-encoding; encode @ as %40, : as %3A and / as %2F');
    return null;
  }
  const port = url.port === '' ? scheme.port : Number(url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    kind: 'smtp',
    display: `${url.protocol}//${url.username ? `${url.username}${url.password ? ':***' : ''}@` : ''}${url.host}${url.port ? '' : `:${port}`}`,
    host,
    port,
    secure: scheme.secure,
    // smtp://: STARTTLS whenever the server offers it; in production the server must offer it.
    requireTls: !scheme.secure && context.production,
    ...(user !== '' ? { auth: { user, pass: password } } : {}),
    ...(ca !== undefined ? { ca } : {}),
  };
}

function readCa(file: string, raw: string, problems: Problems): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    problems.add('EMAIL_URL', raw, `?ca= names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the path of the CA's PEM file`);
    return undefined;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.add('EMAIL_URL', raw, `?ca= names ${file}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    return undefined;
  }
  return pem;
}

/** An address, `noreply@example.com`, or one with a name, `Example <noreply@example.com>`. */
const ADDRESS = /^[^\s<>@"(),;:]+@[^\s<>@"(),;:]+$/;
const NAMED = /^([^<>"\r\n]*?)\s*<([^<>]+)>$/;

function parseFrom(value: string, problems: Problems): string {
  const address = NAMED.exec(value)?.[2] ?? value;
  if (/[\r\n]/.test(value) || !ADDRESS.test(address) || address.length > MAX_EMAIL_LENGTH) {
    // A line break would start a header of its own in every mail; it is shown escaped, on one line.
    problems.add('DEFAULT_FROM_EMAIL', /[\r\n]/.test(value) ? JSON.stringify(value) : value, 'must be an address such as noreply@example.com, or "Example <noreply@example.com>"');
  }
  return value;
}
