import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config/index.ts';
import { migrate, openDatabase } from '../db/index.ts';
import { ConfigError, isOidcConnectError } from '../errors.ts';
import { banner, demoLogins, startServer } from '../server.ts';
import { startConfiguredDevIdp } from '../web/runtime.ts';
import { auditExport } from './audit-export.ts';
import { checkSetup } from './check.ts';
import { NOT_A_TERMINAL, createSuperuser } from './createsuperuser.ts';
import { COMMAND_HELP, USAGE } from './help.ts';
import { importDjango } from './import-django.ts';
import { DEFAULT_KEY_FILE, keygen } from './keygen.ts';
import { sendTestEmail } from './sendtestemail.ts';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      'no-input': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      'only-active': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      'emails-unverified': { type: 'boolean', default: false },
      'merge-into': { type: 'string', multiple: true, default: [] },
      verbose: { type: 'boolean', default: false },
      out: { type: 'string', default: DEFAULT_KEY_FILE },
      alg: { type: 'string', default: 'RS256' },
      since: { type: 'string' },
      until: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  const helpFor = command === 'help' ? positionals[1] : values.help ? command : undefined;
  if (helpFor !== undefined && COMMAND_HELP[helpFor] !== undefined) {
    console.log(COMMAND_HELP[helpFor]);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  // Before the configuration is read: the key it makes is what OIDC_RP_PRIVATE_KEY may still be missing.
  if (command === 'keygen') {
    await keygen({ cwd: process.cwd(), out: values.out!, alg: values.alg!, print: (line) => console.log(line) });
    return 0;
  }
  const config = loadConfig();

  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate': {
      const database = openDatabase(config.database);
      try {
        const applied = await migrate(database);
        console.log(applied.length > 0 ? `Applied: ${applied.join(', ')}` : 'No migrations to apply.');
      } finally {
        await database.close();
      }
      return 0;
    }
    case 'createsuperuser': {
      const noInput = values['no-input'] === true;
      // As Django's: no questions to a pipe or a file, which would end in the middle of them.
      if (!noInput && !process.stdin.isTTY) {
        console.error(NOT_A_TERMINAL);
        return 1;
      }
      const username = await createSuperuser(config, {
        noInput,
        env: process.env,
        warn: (line) => console.error(line),
        ...(values.username !== undefined ? { username: values.username } : {}),
        ...(values.email !== undefined ? { email: values.email } : {}),
      });
      console.log(`Superuser "${username}" created successfully.`);
      if (config.mfa.adminRequired) {
        console.log(`ADMIN_REQUIRE_MFA is on: /admin/ opens once "${username}" has a second factor. Log in at ${config.appUrl}/accounts/login/, `
          + `then set up an authenticator app or a passkey at ${config.appUrl}/accounts/2fa/.`);
      }
      return 0;
    }
    case 'dev-idp': {
      const idp = await startConfiguredDevIdp(config);
      console.log(`Development OpenID provider: ${idp.issuer}\n  ${demoLogins(idp)}`);
      onShutdown(() => idp.close());
      return -1;
    }
    case 'import-django': {
      const url = positionals[1];
      if (url === undefined) {
        console.error(`import-django needs the Django database URL, e.g. sqlite:/path/to/db.sqlite3\n\n${USAGE}`);
        return 1;
      }
      return importDjango(config, url, {
        dryRun: values['dry-run'] === true,
        onlyActive: values['only-active'] === true,
        strict: values.strict === true,
        emailsUnverified: values['emails-unverified'] === true,
        mergeInto: (values['merge-into'] ?? []).flatMap((list) => list.split(',')).map((name) => name.trim()).filter(Boolean),
        verbose: values.verbose === true,
        out: (line) => console.log(line),
        progress: process.stderr,
      });
    }
    case 'sendtestemail':
      return sendTestEmail(config, positionals.slice(1), (line) => console.log(line));
    case 'audit': {
      if (positionals[1] !== 'export') {
        console.error(`Unknown audit command "${positionals[1] ?? ''}"; the one there is: audit export --since DATE\n\n${COMMAND_HELP['audit']}`);
        return 2;
      }
      return auditExport(config, { since: values.since, until: values.until, format: values.format }, {
        out: process.stdout,
        progress: process.stderr,
        error: (line) => console.error(line),
      });
    }
    case 'check': {
      const problems = await checkSetup(config, (line) => console.log(line));
      return problems === 0 ? 0 : 1;
    }
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      return 1;
  }
}

async function serve(config: Config): Promise<number> {
  const server = await startServer(config);
  const log = server.app.log;
  if (config.production) {
    // Production output is a JSON log stream: the banner becomes one structured line.
    log.info({ appUrl: config.appUrl, database: config.database.display, providers: config.providers.map((p) => p.issuer) }, 'oidc-connect started');
  } else {
    console.log(banner(config, server));
  }
  // After the banner, stdout is the server's JSON log in development too: the shutdown is a line of it.
  onShutdown(() => server.close(), {
    info: (signal, line) => log.info({ signal }, line),
    error: (error) => log.error({ err: error }, 'shutdown failed'),
  });
  return -1;
}

interface ShutdownLog {
  info(signal: string, line: string): void;
  error(error: unknown): void;
}

const CONSOLE_SHUTDOWN_LOG: ShutdownLog = {
  info: (_signal, line) => console.log(`\n${line}`),
  error: (error) => console.error(error),
};

/** SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the database, exit 0. */
function onShutdown(close: () => Promise<void>, log: ShutdownLog = CONSOLE_SHUTDOWN_LOG): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info(signal, `${signal} received: shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    close().then(() => process.exit(0), (error: unknown) => {
      log.error(error);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`oidc-connect: configuration error: ${problem}`);
    } else if (isOidcConnectError(error)) {
      console.error(`Error: ${error.message}`);
    } else if ((error as { code?: string }).code === 'EADDRINUSE') {
      console.error(`Error: ${(error as Error).message}. Set PORT (or DEV_IDP_PORT) to a free port.`);
    } else if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`Error: ${(error as Error).message}\n\n${USAGE}`);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  },
);
