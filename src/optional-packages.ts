/**
 * oidc-provider (the development provider) and pg (PostgreSQL) are optional peer dependencies: an app
 * on SQLite with a real provider installs neither. Each is loaded where it is first needed, and a
 * missing one is told apart from other failures by this test, to be reported as what to install.
 */
export function isMissingPackage(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // import(): "Cannot find package 'pg' imported from …"; require(): "Cannot find module 'pg'".
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string'
    && new RegExp(`Cannot find (package|module) '${name}'`).test(message);
}

/** The one line a missing package is reported with: `${why}, but the pg package is not installed: npm install pg`. */
export function missingPackageMessage(name: string, why: string): string {
  return `${why}, but the ${name} package is not installed: npm install ${name}`;
}
