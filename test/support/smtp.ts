/**
 * A real SMTP server for the tests: Debian's python3-aiosmtpd (.ci/run installs it) run by
 * ./smtp/server.py, which parses each message it accepts with Python's email package. So what the
 * app sends is read by another implementation than the one that wrote it, over a real socket,
 * with real STARTTLS or TLS and a real login when asked for.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const SERVER = fileURLToPath(new URL('./smtp/server.py', import.meta.url));
const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());

/** Set when the SMTP tests must be skipped here: never in CI, where a missing aiosmtpd fails them. */
export const smtpSkip: string | undefined = inCi || spawnSync(PYTHON, ['-c', 'import aiosmtpd']).status === 0
  ? undefined
  : "Debian's python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd; .ci/run installs it)";

/** A message as the server received and parsed it. */
export interface ReceivedMail {
  mail_from: string;
  rcpt_tos: string[];
  /** Whether the message came over TLS (STARTTLS or smtps). */
  tls: boolean;
  /** The user that logged in, or null. */
  auth: string | null;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  content_type: string;
  text: string | null;
  html: string | null;
  /** The id in the server's "250 2.0.0 Ok: queued as …" answer. */
  queued: string;
}

export interface SmtpServerOptions {
  /** A port to listen on (to come back on the same one); default: a free one. */
  port?: number;
  /** The server's certificate: STARTTLS is offered (smtp://), or TLS from the first byte with `smtps`. */
  tls?: { cert: string; key: string };
  smtps?: boolean;
  requireStarttls?: boolean;
  /** USER:PASS; then the login is required, over TLS. */
  auth?: string;
  /** Recipients answered 550. */
  reject?: string[];
}

export interface SmtpServer {
  readonly port: number;
  readonly received: ReceivedMail[];
  /** Resolves once the server has accepted `count` messages in all. */
  waitFor(count: number): Promise<ReceivedMail[]>;
  /** Stops it: the port is closed when this resolves. */
  stop(): Promise<void>;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpServer> {
  const args = [SERVER, '--port', String(options.port ?? 0)];
  if (options.tls) args.push('--cert', options.tls.cert, '--key', options.tls.key);
  if (options.smtps) args.push('--smtps');
  if (options.requireStarttls) args.push('--require-starttls');
  if (options.auth) args.push('--auth', options.auth);
  for (const address of options.reject ?? []) args.push('--reject', address);
  const child: ChildProcess = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = once(child, 'exit');
  const received: ReceivedMail[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  let ready: (port: number) => void;
  const listening = new Promise<number>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const message = JSON.parse(line) as { ready: number } | ReceivedMail;
    if ('ready' in message) return ready(message.ready);
    received.push(message);
    waiters = waiters.filter((w) => (received.length >= w.count ? (w.resolve(), false) : true));
  });
  const port = await Promise.race([
    listening,
    exited.then(([code]) => { throw new Error(`the SMTP server exited with ${code}: ${stderr}`); }),
  ]);
  return {
    port,
    received,
    waitFor(count) {
      if (received.length >= count) return Promise.resolve(received.slice(0, count));
      return new Promise((resolve) => waiters.push({ count, resolve: () => resolve(received.slice(0, count)) }));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Certificates {
  /** The CA's certificate (PEM), for EMAIL_URL's ?ca=. */
  ca: string;
  cert: string;
  key: string;
}

/**
 * A private CA and a server certificate it signed for 127.0.0.1 and localhost, made with openssl in
 * `dir`: what an operator with an internal mail relay has.
 */
export function makeCertificates(dir: string): Certificates {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=oidc-connect test CA',
    '-keyout', file('ca.key'), '-out', file('ca.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', file('server.key'), '-out', file('server.csr'));
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n" > server.ext'], { cwd: dir });
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem'));
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}
