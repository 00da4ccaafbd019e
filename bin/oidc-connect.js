#!/usr/bin/env node
// In a checkout, Node (>= 22.18) runs the TypeScript sources directly; an installed package
// (where Node refuses to strip types inside node_modules) runs the compiled dist/.
const installed = import.meta.url.includes('/node_modules/');
await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
