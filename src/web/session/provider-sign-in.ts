/**
 * The end of a provider sign-in, once the provider's answer passed every check. The login's flow
 * was taken before the token request (src/rp/flows.ts), so a replayed callback never reaches the
 * provider, which may revoke what it issued for a code redeemed twice. What the sign-in writes —
 * the user found or made and the identity linked, the new session, last_login, the success's audit
 * entry — is one transaction: a failure anywhere leaves none of it, and auditedSignIn then records
 * the failure.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { recordEvent } from '../../audit/index.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import type { Db } from '../../db/index.ts';
import type { User } from '../../db/schema.ts';
import { checkClaims, provisionUser, type LinkedBy, type ProviderClaims } from '../../provisioning/index.ts';
import type { CompletedSignIn } from '../../rp/index.ts';
import { requestEvent } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { openSession, setSessionCookie } from './cookie.ts';

export async function completeProviderSignIn(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  result: CompletedSignIn,
): Promise<{ user: User; linkedBy: LinkedBy }> {
  const { config } = ctx;
  const provider = result.provider.config;
  const claims: ProviderClaims = { ...result.userinfo, ...result.claims };
  checkClaims(config.provisioning, claims); // a refused user is told before the database is
  const tokens = await ctx.rp.tokens.seal(result.tokens.refreshToken
    ? result.tokens
    : { ...result.tokens, renewAt: Date.now() + config.renewIdTokenExpirySeconds * 1000 });

  const signIn = () => ctx.db.transaction().execute(async (trx: Db) => {
    const { user, linkedBy } = await provisionUser(trx, { ...config.provisioning, matchClaim: config.scim.matchClaim, roleRules: config.roleRules }, provider, claims);
    const secret = await openSession(trx, config, request, {
      userId: user.id,
      provider: provider.id,
      providerSid: typeof result.claims.sid === 'string' ? result.claims.sid : null,
      tokens,
      // How the provider signed the user in, for the admin's multi-factor rule (src/web/session/admin-mfa.ts).
      amr: Array.isArray(result.claims.amr) ? result.claims.amr : [],
      acr: typeof result.claims.acr === 'string' ? result.claims.acr : null,
    });
    await recordEvent(trx, requestEvent(request, {
      type: 'login_success', method: provider.id, userId: user.id, username: user.username,
      detail: linkedBy === 'created' ? 'new user created' : linkedBy === 'email' ? 'linked by verified email' : linkedBy === 'external_id' ? 'linked to the SCIM user by SCIM_MATCH_CLAIM' : '',
    }));
    return { user, linkedBy, secret };
  });
  let done: Awaited<ReturnType<typeof signIn>>;
  try {
    done = await signIn();
  } catch (error) {
    // Two first logins of one person raced; the loser finds the winner's identity on retry.
    if (!isUniqueViolation(error)) throw error;
    done = await signIn();
  }
  setSessionCookie(config, reply, done.secret);
  ctx.metrics?.signIn({ type: 'login_success', method: provider.id }); // audited inside the sign-in's transaction
  return { user: done.user, linkedBy: done.linkedBy };
}
