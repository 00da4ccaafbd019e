import { IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';

import type { Provider } from 'oidc-provider';

import { BodyTooLargeError, readForm, sendHtml, sendJson } from './http.ts';
import { ROUTES } from './op.ts';
import { renderError } from './views.ts';

/** Okta's default authorization server lives under this path; so does our issuer. */
export const ISSUER_PATH = '/oauth2/default';

export interface RouterParts {
  provider: Provider;
  handleUserinfo(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  handleInteraction(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void>;
}

/**
 * Okta issues refresh tokens whenever `offline_access` is asked for. oidc-provider follows OIDC
 * Core 11 to the letter and drops `offline_access` unless `prompt` includes `consent`. For our
 * first-party clients we add that prompt, in the authorization request's query or in its pushed
 * body (PAR); the consent step is then approved without a page. `prompt=none` is left alone, since
 * it cannot be combined with any other value.
 */
export function promptConsentForOfflineAccess(search: URLSearchParams): boolean {
  const scopes = (search.get('scope') ?? '').split(' ');
  if (!scopes.includes('offline_access') || search.getAll('prompt').length > 1) return false;
  const prompts = (search.get('prompt') ?? '').split(' ').filter(Boolean);
  if (prompts.includes('none') || prompts.includes('consent')) return false;
  search.set('prompt', [...prompts, 'consent'].join(' '));
  return true;
}

/** Hands a request under the issuer path to oidc-provider, as if it were mounted there. */
function mount(req: IncomingMessage & { originalUrl?: string }, url: URL): void {
  if (req.method === 'GET' && url.pathname === `${ISSUER_PATH}${ROUTES.authorization}`
    && promptConsentForOfflineAccess(url.searchParams)) {
    req.url = `${url.pathname}?${url.searchParams.toString()}`;
  }
  const original = req.url ?? '/';
  const rest = original.slice(ISSUER_PATH.length);
  // oidc-provider derives its mount path, and so every URL it prints, from originalUrl.
  req.originalUrl = original;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
}

/** The same request with another form body: what the pushed authorization request hands oidc-provider. */
function withForm(req: IncomingMessage, form: URLSearchParams): IncomingMessage {
  const body = Buffer.from(form.toString());
  const copy = new IncomingMessage(req.socket);
  copy.method = req.method!;
  copy.url = req.url!;
  copy.httpVersionMajor = req.httpVersionMajor;
  copy.httpVersionMinor = req.httpVersionMinor;
  copy.headers = { ...req.headers, 'content-length': String(body.length) };
  copy.push(body);
  copy.push(null);
  // Whole, as the HTTP parser marks a request it read: one that is not would close the socket when destroyed.
  copy.complete = true;
  return copy;
}

export function createRouter(parts: RouterParts): RequestListener {
  const providerCallback = parts.provider.callback();

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const { pathname } = url;

    if (pathname.startsWith('/interaction/')) {
      await parts.handleInteraction(req, res, pathname);
      return;
    }
    if (pathname === `${ISSUER_PATH}${ROUTES.userinfo}` && await parts.handleUserinfo(req, res)) return;
    if (req.method === 'POST' && pathname === `${ISSUER_PATH}${ROUTES.pushed_authorization_request}`) {
      let form: URLSearchParams;
      try {
        form = await readForm(req);
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        sendJson(res, 413, { error: 'invalid_request', error_description: 'request body too large' });
        return;
      }
      promptConsentForOfflineAccess(form);
      const pushed = withForm(req, form);
      mount(pushed, url);
      await providerCallback(pushed, res);
      return;
    }
    if (pathname === ISSUER_PATH || pathname.startsWith(`${ISSUER_PATH}/`)) {
      mount(req, url);
      await providerCallback(req, res);
      return;
    }
    sendHtml(res, 404, renderError({
      title: 'Not found',
      message: `This is the development OpenID provider; its issuer is ${ISSUER_PATH} on this host.`,
    }));
  }

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      console.error('[dev-idp] request failed:', error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendHtml(res, 500, renderError({ title: 'Something went wrong', message: 'The development provider failed to answer this request.' }));
    });
  };
}
