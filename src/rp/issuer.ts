/**
 * Picks the configured provider a token names: a trailing slash is no difference, as providers
 * differ on it (Okta's issuers have none). The exact discovered issuer is checked afterwards.
 */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}
