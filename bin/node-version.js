// The running Node against package.json "engines", in plain JavaScript that any Node can parse: the
// CLI (bin/oidc-connect.js) checks it before it loads any TypeScript, and the library's entry points
// (src/node-version.ts, through the "#node-version" import of package.json) before anything else, so
// both fail with the same line instead of ERR_UNKNOWN_BUILTIN_MODULE or a stranger error further on.
import { readFileSync } from 'node:fs';

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** The minimum Node version, as package.json "engines" states it (">=22.18"). */
export const requiredNode = engines.node;

/**
 * The one line saying this Node is too old, or undefined when it is recent enough.
 *
 * @example
 *   const problem = unsupportedNode(); // 'oidc-connect cannot start: it needs Node.js >=22.18 …' on Node 20
 */
export function unsupportedNode() {
  const minimum = /^>=\s*(\d+)\.(\d+)/.exec(requiredNode);
  const [major, minor] = process.versions.node.split('.').map(Number);
  const old = minimum !== null && (major < Number(minimum[1]) || (major === Number(minimum[1]) && minor < Number(minimum[2])));
  return old
    ? `oidc-connect cannot start: it needs Node.js ${requiredNode} (package.json "engines"), and this is Node ${process.version} (${process.execPath}).`
    : undefined;
}
