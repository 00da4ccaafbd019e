import type { IncomingMessage, ServerResponse } from 'node:http';

import { errors } from 'oidc-provider';
import type { InteractionDetails, Provider } from 'oidc-provider';

import type { UserDirectory } from './demo-users.ts';
import { BodyTooLargeError, readForm, sendHtml } from './http.ts';
import { AwaitingApproval, loginResult, requestedMultiFactorAcr } from './second-step.ts';
import { renderError, renderLogin, renderSecondStep } from './views.ts';

export const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/abort|\/second-step)?$/;

export interface InteractionOptions {
  provider: Provider;
  users: UserDirectory;
  /** Show the demo passwords on the form (the built-in users), or only the emails (a users file). */
  showPasswords: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The login and consent steps oidc-provider hands over to us ("interactions"). Login is a real
 * form; consent is approved without a page, since every client here is first-party.
 *
 * CSRF: the interaction cookie is SameSite=Lax, so a cross-site POST arrives without it and
 * fails like an expired interaction.
 */
export function createInteractionHandler(options: InteractionOptions) {
  const { provider, users } = options;
  const awaiting = new AwaitingApproval();
  const logins = users.users.map((user) => ({
    email: user.email,
    ...(options.showPasswords ? { password: user.password } : {}),
  }));

  function showLogin(res: ServerResponse, details: InteractionDetails, status: number, email: string, error?: string): void {
    sendHtml(res, status, renderLogin({
      clientId: String(details.params['client_id'] ?? ''),
      action: `/interaction/${details.uid}/login`,
      abortAction: `/interaction/${details.uid}/abort`,
      email,
      error,
      logins,
      passwordsHidden: !options.showPasswords,
    }));
  }

  async function approveConsent(req: IncomingMessage, res: ServerResponse, details: InteractionDetails): Promise<void> {
    const accountId = details.session?.accountId;
    const clientId = String(details.params['client_id'] ?? '');
    if (!accountId) throw new errors.SessionNotFound('no signed-in account for consent');

    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    grant ??= new provider.Grant({ accountId, clientId });
    const missing = details.prompt.details;
    if (Array.isArray(missing['missingOIDCScope'])) grant.addOIDCScope(missing['missingOIDCScope'].join(' '));
    if (Array.isArray(missing['missingOIDCClaims'])) grant.addOIDCClaims(missing['missingOIDCClaims'] as string[]);
    const resourceScopes = missing['missingResourceScopes'];
    if (isRecord(resourceScopes)) {
      for (const [indicator, scopes] of Object.entries(resourceScopes)) {
        if (Array.isArray(scopes)) grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function route(req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    // The cookie names the interaction; a page left open from an older one must not act on it.
    if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');

    if (action === undefined) {
      if (req.method !== 'GET') return sendMethodNotAllowed(res);
      if (details.prompt.name === 'consent') return approveConsent(req, res, details);
      const hint = details.params['login_hint'];
      return showLogin(res, details, 200, typeof hint === 'string' ? hint : '');
    }

    if (req.method !== 'POST') return sendMethodNotAllowed(res);
    if (action === '/abort') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }

    if (action === '/second-step') {
      const sub = awaiting.take(uid);
      if (sub === undefined) return showLogin(res, details, 400, '', 'This sign-in step expired. Sign in again.');
      return provider.interactionFinished(req, res, {
        login: { accountId: sub, ...loginResult(true, details.params['acr_values']) },
      }, { mergeWithLastSubmission: false });
    }

    const form = await readForm(req);
    const email = form.get('email') ?? '';
    const user = users.authenticate(email, form.get('password') ?? '');
    if (!user) return showLogin(res, details, 401, email, 'Incorrect email or password.');
    if (user.mfa || requestedMultiFactorAcr(details.params['acr_values']) !== undefined) {
      awaiting.set(uid, user.sub);
      return sendHtml(res, 200, renderSecondStep({
        clientId: String(details.params['client_id'] ?? ''),
        email: user.email,
        action: `/interaction/${details.uid}/second-step`,
        abortAction: `/interaction/${details.uid}/abort`,
      }));
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub, ...loginResult(false, details.params['acr_values']) },
    }, { mergeWithLastSubmission: false });
  }

  return async function handleInteraction(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const match = INTERACTION_PATH.exec(pathname);
    if (!match?.[1]) {
      sendHtml(res, 404, renderError({ title: 'Not found', message: 'There is no such page on the development provider.' }));
      return;
    }
    try {
      await route(req, res, match[1], match[2]);
    } catch (error) {
      if (res.headersSent) throw error;
      if (error instanceof BodyTooLargeError) {
        sendHtml(res, 413, renderError({ title: 'Request too large', message: 'The form sent was too large.' }));
      } else if (error instanceof errors.OIDCProviderError && error.status < 500) {
        // Mostly a missing or expired interaction cookie: the sign-in has to start again at the app.
        sendHtml(res, 400, renderError({
          title: 'Sign-in expired',
          message: 'This sign-in request has expired or was already completed. Go back to the application and sign in again.',
          code: error.error,
        }));
      } else {
        throw error;
      }
    }
  };
}

function sendMethodNotAllowed(res: ServerResponse): void {
  res.setHeader('Allow', 'GET, POST');
  sendHtml(res, 405, renderError({ title: 'Method not allowed', message: 'This page does not accept that request.' }));
}
