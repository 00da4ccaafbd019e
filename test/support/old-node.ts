import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** package.json "engines" for Node (">=22.18"). */
export const ENGINES = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node;

/**
 * The machine's own Node (the first `node` on PATH outside node_modules, as `npm start` finds it when
 * the node@24 devDependency's install script was skipped) when it is older than "engines", with its
 * version; else why there is none, for a test's skip reason.
 */
export function olderSystemNode(): { path: string; version: string } | { skip: string } {
  const path = (process.env.PATH ?? '').split(delimiter).filter((entry) => !entry.includes('node_modules'))
    .map((entry) => join(entry, 'node')).find((candidate) => existsSync(candidate));
  if (path === undefined) return { skip: 'no node on PATH outside node_modules' };
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  const [major, minor] = version.slice(1).split('.').map(Number);
  const [wantMajor, wantMinor] = /(\d+)\.(\d+)/.exec(ENGINES)!.slice(1).map(Number);
  const older = major! < wantMajor! || (major === wantMajor && minor! < wantMinor!);
  return older ? { path, version } : { skip: `no Node older than ${ENGINES} on PATH (${path} is ${version})` };
}
