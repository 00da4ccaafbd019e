/**
 * What counts as a multi-factor sign-in, for the admin's rule and the bearer guard alike: an `amr`
 * (RFC 8176) naming a second factor, or an `acr` the operator lists in OIDC_MFA_ACR_VALUES.
 */

/** RFC 8176 methods that are a second factor, or show one was used: the list. */
export const MULTI_FACTOR_AMR: ReadonlySet<string> = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt']);

/**
 * The OpenID PAPE policy for multi-factor authentication: the `acr_values` a step-up asks for when
 * OIDC_MFA_ACR_VALUES is empty. Auth0 and the development provider understand it.
 */
export const PAPE_MULTI_FACTOR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

export interface SignInMethods {
  /** `amr` values: an array (an ID token's claim), or the space-separated text a session row keeps. */
  readonly amr?: unknown;
  readonly acr?: unknown;
}

/**
 * Whether a sign-in was multi-factor.
 *
 * @example
 * isMultiFactor({ amr: ['pwd', 'mfa'] }, []) // true
 * isMultiFactor({ amr: 'pwd', acr: 'urn:okta:loa:2fa:any' }, ['urn:okta:loa:2fa:any']) // true
 * isMultiFactor({ amr: ['pwd'], acr: 'urn:okta:loa:1fa:pwd' }, ['urn:okta:loa:2fa:any']) // false
 */
export function isMultiFactor(signIn: SignInMethods, acrValues: readonly string[]): boolean {
  const amr = typeof signIn.amr === 'string' ? signIn.amr.split(' ') : Array.isArray(signIn.amr) ? signIn.amr : [];
  if (amr.some((method) => typeof method === 'string' && MULTI_FACTOR_AMR.has(method))) return true;
  return typeof signIn.acr === 'string' && acrValues.includes(signIn.acr);
}

/** The `acr_values` of a step-up sign-in: OIDC_MFA_ACR_VALUES, else the PAPE multi-factor policy. */
export function stepUpAcrValues(acrValues: readonly string[]): readonly string[] {
  return acrValues.length > 0 ? acrValues : [PAPE_MULTI_FACTOR];
}
