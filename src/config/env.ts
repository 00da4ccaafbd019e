import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The process environment layered over `.env` in the working directory: a real environment
 * variable always wins, so a deployment can override a checked-in file.
 */
export function readEnv(cwd: string, processEnv: Env = process.env): Env {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnv(readFileSync(join(cwd, '.env'), 'utf8')) as Record<string, string>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { ...fromFile, ...processEnv };
}
