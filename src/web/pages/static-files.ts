import { readFileSync } from 'node:fs';

/** Where the plugin serves what its pages load: a prefix of its own, clear of the host app's /static/. */
export const STATIC_PREFIX = '/oidc-connect/static';

export interface StaticFile {
  readonly type: string;
  readonly body: string;
}

const read = (name: string): string => readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');

/**
 * @simplewebauthn/browser's browser bundle (it defines `SimpleWebAuthnBrowser`), from the installed
 * package: served from our origin, never a CDN, at the version package.json pins. The package exports
 * only its module entry, so the bundle is found beside it.
 */
const webauthnBrowser = (): string =>
  readFileSync(new URL('../dist/bundle/index.umd.min.js', import.meta.resolve('@simplewebauthn/browser')), 'utf8');

/** The stylesheet, the favicon and the passkey scripts, by URL path; read once, served from memory. */
export const STATIC_FILES: ReadonlyMap<string, StaticFile> = new Map([
  [`${STATIC_PREFIX}/app.css`, { type: 'text/css; charset=utf-8', body: read('app.css') }],
  [`${STATIC_PREFIX}/favicon.svg`, { type: 'image/svg+xml', body: read('favicon.svg') }],
  [`${STATIC_PREFIX}/webauthn.js`, { type: 'text/javascript; charset=utf-8', body: read('webauthn.js') }],
  [`${STATIC_PREFIX}/simplewebauthn-browser.js`, { type: 'text/javascript; charset=utf-8', body: webauthnBrowser() }],
]);
