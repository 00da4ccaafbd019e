/**
 * The development provider's second step, so that an app's multi-factor rules (acr_values, step-up,
 * ADMIN_REQUIRE_MFA) can be tried with no account anywhere. After the password, a demo user is asked
 * to approve the sign-in (a stand-in for Okta Verify, a passkey or a code) when the app asks for a
 * multi-factor `acr_values`, or when the users file gives them `"mfa": true` (as if the provider's own
 * policy required it). The ID token then says so as Okta's would: `amr` ["pwd", "mfa"] and
 * `acr` the multi-factor value asked for (urn:okta:loa:2fa:any by default); a password alone gives
 * `amr` ["pwd"] and `acr` urn:okta:loa:1fa:pwd.
 */
import { interactionPolicy } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

export const ACR_PASSWORD = 'urn:okta:loa:1fa:pwd';
export const ACR_MULTI_FACTOR = 'urn:okta:loa:2fa:any';
/** The `acr_values` that ask for a second step: Okta's, and the OpenID PAPE multi-factor policy. */
export const MULTI_FACTOR_ACRS: readonly string[] = [
  ACR_MULTI_FACTOR, 'urn:okta:loa:2fa:any:ifpossible', 'http://schemas.openid.net/pape/policies/2007/06/multi-factor',
];
/** Every `acr` this provider can say (its discovery's acr_values_supported). */
export const SUPPORTED_ACRS: readonly string[] = ['urn:okta:loa:1fa:any', ACR_PASSWORD, ...MULTI_FACTOR_ACRS];

/** The multi-factor `acr` an authorization request asks for, or undefined. */
export function requestedMultiFactorAcr(acrValues: unknown): string | undefined {
  return typeof acrValues === 'string' ? acrValues.split(' ').find((value) => MULTI_FACTOR_ACRS.includes(value)) : undefined;
}

/**
 * oidc-provider's default interaction policy, with one more reason to show the login: the request
 * asks for a multi-factor `acr` that the provider session's sign-in did not reach (a step-up).
 */
export function interactions() {
  const policy = interactionPolicy.base();
  // Its error, for a prompt=none request it can't satisfy, is the login prompt's own.
  policy.get('login').checks.add(new interactionPolicy.Check('multi_factor', 'a second step is required', 'login_required', (ctx: KoaContextWithOIDC) => {
    const asked = requestedMultiFactorAcr(ctx.oidc.params['acr_values']);
    return asked !== undefined && !MULTI_FACTOR_ACRS.includes(ctx.oidc.acr ?? '')
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  }));
  return policy;
}

/** The sign-in's `amr` and `acr`, once the password (and, when asked, the second step) are done. */
export function loginResult(secondStep: boolean, acrValues: unknown): { amr: string[]; acr: string } {
  if (!secondStep) return { amr: ['pwd'], acr: ACR_PASSWORD };
  return { amr: ['pwd', 'mfa'], acr: requestedMultiFactorAcr(acrValues) ?? ACR_MULTI_FACTOR };
}

/**
 * The accounts whose password was right and whose second step is on screen, by interaction id. In
 * memory: the development provider is one process, and an interaction lives an hour at most.
 */
export class AwaitingApproval {
  readonly #accounts = new Map<string, { sub: string; expires: number }>();

  set(uid: string, sub: string, now = Date.now()): void {
    for (const [key, entry] of this.#accounts) if (entry.expires <= now) this.#accounts.delete(key);
    this.#accounts.set(uid, { sub, expires: now + 60 * 60 * 1000 });
  }

  /** The account of `uid`, once. */
  take(uid: string, now = Date.now()): string | undefined {
    const entry = this.#accounts.get(uid);
    this.#accounts.delete(uid);
    return entry && entry.expires > now ? entry.sub : undefined;
  }
}
