import { fileURLToPath } from 'node:url';

import { Eta } from 'eta';

// Eta escapes every `<%= %>` output by default; the only raw output is the layout's `body`,
// which is itself a rendered (escaped) template.
const eta = new Eta({
  views: fileURLToPath(new URL('./views', import.meta.url)),
  autoEscape: true,
  cache: true,
});

export interface LoginView {
  clientId: string;
  action: string;
  abortAction: string;
  email: string;
  error?: string;
  logins: ReadonlyArray<{ email: string; password?: string }>;
  passwordsHidden: boolean;
}

export interface SecondStepView {
  clientId: string;
  email: string;
  action: string;
  abortAction: string;
}

export interface LogoutView {
  clientId?: string;
  action: string;
  xsrf: string;
  autoSubmit: boolean;
}

export interface ErrorView {
  title: string;
  message: string;
  code?: string;
}

export const renderLogin = (view: LoginView): string => eta.render('./login', view);
export const renderSecondStep = (view: SecondStepView): string => eta.render('./second-step', view);
export const renderLogout = (view: LogoutView): string => eta.render('./logout', view);
export const renderSignedOut = (view: { clientId?: string }): string => eta.render('./signed-out', view);
export const renderError = (view: ErrorView): string => eta.render('./error', view);
