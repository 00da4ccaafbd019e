import type { Config } from '../config/index.ts';

/** What the mails need to know of the app: where it is, who sends, the brand, and how links are signed and for how long. */
export interface MailSettings {
  readonly appUrl: string;
  /** DEFAULT_FROM_EMAIL. */
  readonly from: string;
  /** The pages' brand name, at the head of every HTML mail. */
  readonly brand: string;
  /** Links are signed under keys derived from it (src/accounts/tokens.ts). */
  readonly sessionSecret: string;
  readonly passwordResetTimeoutSeconds: number;
}

/**
 * @example
 * mailSettings(config, 'Example Corp')
 */
export function mailSettings(config: Config, brand: string): MailSettings {
  return {
    appUrl: config.appUrl, from: config.mail.from, brand, sessionSecret: config.sessionSecret,
    passwordResetTimeoutSeconds: config.mail.passwordResetTimeoutSeconds,
  };
}

/** APP_URL's host (with its port): the site a mail names, as Django's `site_name` without the sites framework. */
export const siteOf = (settings: Pick<MailSettings, 'appUrl'>): string => new URL(settings.appUrl).host;
