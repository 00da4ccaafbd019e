import { readFileSync } from 'node:fs';

/** Where the plugin serves what its pages load: a prefix of its own, clear of the host app's /static/. */
export const STATIC_PREFIX = '/oidc-connect/static';

export interface StaticFile {
  readonly type: string;
  readonly body: string;
}

const read = (name: string): string => readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');

/** The stylesheet and the favicon, by URL path; read once, served from memory. */
export const STATIC_FILES: ReadonlyMap<string, StaticFile> = new Map([
  [`${STATIC_PREFIX}/app.css`, { type: 'text/css; charset=utf-8', body: read('app.css') }],
  [`${STATIC_PREFIX}/favicon.svg`, { type: 'image/svg+xml', body: read('favicon.svg') }],
]);
