/**
 * Imported first by each entry point of the package (index.ts, web/express/index.ts, dev-idp/index.ts),
 * so that on a Node older than package.json "engines" importing the library fails here, with the line
 * `npx oidc-connect` prints (bin/node-version.js words it for both), and not with Node 20's
 * ERR_UNKNOWN_BUILTIN_MODULE for node:sqlite. That is why nothing the entry points import statically
 * may name a built-in module or export that Node 20 lacks: those fail while linking, before any module runs.
 */
import { unsupportedNode } from '#node-version';

const problem = unsupportedNode();
if (problem !== undefined) throw Object.assign(new Error(problem), { code: 'NODE_UNSUPPORTED' });
