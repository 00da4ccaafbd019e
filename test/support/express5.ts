// `node --import ./test/support/express5.ts app.ts`: the app's `import express from 'express'` gets
// Express 5 (the express5 devDependency) instead of the checkout's Express 4, which the bench's
// peers need. Test-only, so the example reads as in any app.
import { registerHooks } from 'node:module';

registerHooks({
  resolve: (specifier, context, nextResolve) => nextResolve(specifier === 'express' ? 'express5' : specifier, context),
});
