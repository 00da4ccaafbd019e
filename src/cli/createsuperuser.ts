import { userInfo } from 'node:os';
import { createUser } from '../accounts/users.ts';
import type { Config } from '../config/index.ts';
import { migrate, openDatabase } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';
import { createPrompter } from './prompt.ts';

export interface SuperuserOptions {
  username?: string;
  email?: string;
  noInput: boolean;
  env: NodeJS.ProcessEnv;
}

/** Django's createsuperuser: interactive by default, or fully from flags and the environment. */
export async function createSuperuser(config: Config, options: SuperuserOptions): Promise<string> {
  let { username, email } = options;
  let password: string;
  if (options.noInput) {
    if (!username) throw new OidcConnectError('BAD_REQUEST', '--username is required with --no-input.');
    password = options.env.OIDC_CONNECT_SUPERUSER_PASSWORD ?? '';
    if (password === '') {
      throw new OidcConnectError('PASSWORD_INVALID', 'OIDC_CONNECT_SUPERUSER_PASSWORD must hold the password when --no-input is used.');
    }
  } else {
    const prompt = createPrompter();
    try {
      const fallback = safeLogin();
      username ||= (await prompt.ask(`Username${fallback ? ` (leave blank to use '${fallback}')` : ''}: `)).trim() || fallback;
      email ??= (await prompt.ask('Email address: ')).trim();
      password = await prompt.ask('Password: ', { hidden: true });
      const again = await prompt.ask('Password (again): ', { hidden: true });
      if (password !== again) throw new OidcConnectError('PASSWORD_INVALID', "Your passwords didn't match.");
    } finally {
      prompt.close();
    }
  }
  if (!username) throw new OidcConnectError('BAD_REQUEST', 'A username is required.');

  const database = openDatabase(config.database);
  try {
    await migrate(database);
    await createUser(database.db, { username, email: email ?? '', password, isStaff: true, isSuperuser: true });
  } finally {
    await database.close();
  }
  return username;
}

function safeLogin(): string {
  try {
    return userInfo().username.replace(/[^\w.@+-]/g, '');
  } catch {
    return '';
  }
}
