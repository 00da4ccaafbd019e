#!/usr/bin/env node
// In a checkout, Node runs the TypeScript sources directly (type stripping); an installed package
// (where Node refuses to strip types inside node_modules) runs the compiled dist/. This file is plain
// JavaScript that any Node can parse, so that it can check the running Node before loading any .ts.
import { requiredNode, unsupportedNode } from './node-version.js';

const installed = import.meta.url.includes('/node_modules/');
const oldNode = unsupportedNode();
const cannotStrip = !installed && !process.features.typescript;

if (oldNode !== undefined) {
  // The first line is the one the library's entry points throw (bin/node-version.js).
  console.error(`${oldNode}\n`
    + (installed ? '' : 'npm start and npx run the Node 24 that npm installs with this project (the node@24 devDependency);\n'
      + 'if that is how you started it, its install script did not run (npm install --ignore-scripts, or pnpm,\n'
      + 'which asks first): run `npm rebuild node` (with pnpm: `pnpm approve-builds` and allow node). Otherwise,\n')
    + `install Node.js ${requiredNode}.`);
  process.exit(1);
}
if (cannotStrip) {
  console.error(`oidc-connect cannot start: Node ${process.version} (${process.execPath}) does not strip TypeScript types, so it cannot run the sources.\n`
    + 'Run it without --no-experimental-strip-types (look at NODE_OPTIONS too), or on Node 24.');
  process.exit(1);
}

await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
