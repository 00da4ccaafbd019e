import { userInfo } from 'node:os';
import { refuseBlankPassword, validatePassword } from '../accounts/password-validation.ts';
import { createUser } from '../accounts/users.ts';
import type { Config } from '../config/index.ts';
import { migrate, openDatabase } from '../db/index.ts';
import { OidcConnectError, isOidcConnectError } from '../errors.ts';
import { createPrompter } from './prompt.ts';

export interface SuperuserOptions {
  username?: string;
  email?: string;
  noInput: boolean;
  env: NodeJS.ProcessEnv;
  /** Where a refused answer is told before the question comes again (stderr). */
  warn: (line: string) => void;
}

/** Django's line when `createsuperuser` is not run in a terminal, with what to do instead. */
export const NOT_A_TERMINAL = 'Superuser creation skipped: not running in a terminal; use --no-input';

/**
 * Django's createsuperuser: interactive by default, or fully from flags and the environment. The
 * password must pass Django's validators. Interactively, a refused password is asked for again, after
 * Django's question whether to bypass them; with --no-input it ends the run with one line.
 */
export async function createSuperuser(config: Config, options: SuperuserOptions): Promise<string> {
  let { username, email } = options;
  let password: string;
  let bypass = false;
  if (options.noInput) {
    if (!username) throw new OidcConnectError('BAD_REQUEST', '--username is required with --no-input.');
    password = options.env.OIDC_CONNECT_SUPERUSER_PASSWORD ?? '';
    if (password === '') {
      throw new OidcConnectError('PASSWORD_INVALID', 'OIDC_CONNECT_SUPERUSER_PASSWORD must hold the password when --no-input is used.');
    }
    const refused = validatePassword(password, { username, email: email ?? '' });
    if (refused.length > 0) throw new OidcConnectError('PASSWORD_INVALID', `OIDC_CONNECT_SUPERUSER_PASSWORD was refused: ${refused.join(' ')}`);
  } else {
    const prompt = createPrompter();
    try {
      const fallback = safeLogin();
      username ||= (await prompt.ask(`Username${fallback ? ` (leave blank to use '${fallback}')` : ''}: `)).trim() || fallback;
      email ??= (await prompt.ask('Email address: ')).trim();
      ({ password, bypass } = await askPassword(prompt, { username, email }, options.warn));
    } finally {
      prompt.close();
    }
  }
  if (!username) throw new OidcConnectError('BAD_REQUEST', 'A username is required.');

  const database = openDatabase(config.database);
  try {
    await migrate(database);
    await createUser(database.db, { username, email: email ?? '', password, isStaff: true, isSuperuser: true, bypassPasswordValidation: bypass });
  } finally {
    await database.close();
  }
  return username;
}

/** Django's loop: the password twice until both match, are not blank, and pass the validators or the operator bypasses them. */
async function askPassword(
  prompt: ReturnType<typeof createPrompter>,
  owner: { username: string; email: string },
  warn: (line: string) => void,
): Promise<{ password: string; bypass: boolean }> {
  for (;;) {
    const password = await prompt.ask('Password: ', { hidden: true });
    const again = await prompt.ask('Password (again): ', { hidden: true });
    if (password !== again) {
      warn("Error: Your passwords didn't match.");
      continue;
    }
    try {
      refuseBlankPassword(password);
    } catch (error) {
      if (!isOidcConnectError(error)) throw error;
      warn(`Error: ${error.message}`);
      continue;
    }
    const refused = validatePassword(password, owner);
    if (refused.length === 0) return { password, bypass: false };
    for (const message of refused) warn(message);
    const answer = await prompt.ask('Bypass password validation and create user anyway? [y/N]: ');
    if (answer.toLowerCase() === 'y') return { password, bypass: true };
  }
}

function safeLogin(): string {
  try {
    return userInfo().username.replace(/[^\w.@+-]/g, '');
  } catch {
    return '';
  }
}
