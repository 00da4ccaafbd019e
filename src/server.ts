import type { FastifyInstance } from 'fastify';
import { withSessionSecret, type Config } from './config/index.ts';
import { migrate, openDatabase, type DatabaseHandle } from './db/index.ts';
import type { DevIdp } from './dev-idp/index.ts';
import { createRelyingParty } from './rp/index.ts';
import { buildApp } from './web/app.ts';
import { loggerOptions } from './web/logging.ts';
import { startConfiguredDevIdp } from './web/runtime.ts';

export interface RunningServer {
  app: FastifyInstance;
  database: DatabaseHandle;
  devIdp: DevIdp | null;
  url: string;
  close(): Promise<void>;
}

/**
 * Makes or reads the development session secret (withSessionSecret), opens and migrates the
 * database, starts the development provider when needed, then listens.
 */
export async function startServer(loaded: Config, options: { logger?: boolean } = {}): Promise<RunningServer> {
  const config = withSessionSecret(loaded);
  const database = openDatabase(config.database);
  let devIdp: DevIdp | null = null;
  let app: FastifyInstance | undefined;
  try {
    await migrate(database);
    if (config.devIdp) devIdp = await startConfiguredDevIdp(config);
    const rp = createRelyingParty(config, database.db, { warn: (details, message) => app?.log.warn(details, message) });
    app = await buildApp({ config, db: database.db, rp }, {
      logger: options.logger === false ? false : loggerOptions(config),
    });
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await app?.close();
    await devIdp?.close();
    await database.close();
    throw error;
  }
  const running = app;
  return {
    app: running,
    database,
    devIdp,
    url: config.appUrl,
    async close() {
      await running.close(); // stops accepting, lets in-flight requests finish
      await devIdp?.close();
      await database.close();
    },
  };
}

export function demoLogins(devIdp: DevIdp): string {
  return `demo logins: ${devIdp.users.map((u) => `${u.email} / ${u.password}`).join(', ')}`;
}

export function banner(config: Config, server: RunningServer): string {
  const lines = [
    '',
    `  oidc-connect is running at ${config.appUrl}`,
    `  Database: ${config.database.display}`,
  ];
  if (server.devIdp) {
    lines.push(
      `  Development OpenID provider ("${config.providers[0]?.name}"): ${server.devIdp.issuer}`,
      `    ${demoLogins(server.devIdp)}`,
      '    (for development only; set OIDC_ISSUER or OKTA_DOMAIN to use a real provider)',
    );
  } else {
    for (const p of config.providers) lines.push(`  Provider "${p.name}": ${p.issuer}`);
  }
  const mail = config.mail.transport;
  if (mail?.kind === 'mailbox') lines.push(`  Development mailbox (no EMAIL_URL, so mail is kept, not sent): ${config.appUrl}/dev/mailbox/`);
  else if (mail?.kind === 'smtp') lines.push(`  Mail: ${mail.display}`);
  else lines.push('  Mail: not set up (no EMAIL_URL): password reset by email is off');
  lines.push('  Create an admin account: npx oidc-connect createsuperuser', '');
  return lines.join('\n');
}
