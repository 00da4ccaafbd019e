// Builds the publishable package: compiled JS and types in dist/, plus the templates, the static
// files (stylesheet, favicon, passkey script) and Django's common-password list (with its licence)
// that the compiled code reads beside itself. Development runs the sources directly.
import { execFileSync } from 'node:child_process';
import { cpSync, globSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const asset of globSync(['src/**/*.eta', 'src/**/*.css', 'src/**/*.svg', 'src/**/static/*.js', 'src/accounts/common-passwords/*'], { cwd: root })) {
  const target = join(root, 'dist', asset.slice('src/'.length));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(root, asset), target);
}
