/**
 * A WebAuthn ceremony in progress: the challenge the browser was given, kept in a cookie of its own,
 * sealed (src/sealed.ts) with what it is for, whom, and until when, so that a challenge made for
 * one purpose, user or pending sign-in can't answer another, and nothing anonymous is written to the
 * database. The cookie is read once: taking it clears it. Replays are refused by what the answer
 * acts on: a passkey sign-in spends its challenge (src/mfa/webauthn.ts), a second step takes its
 * pending sign-in, and a passkey can be registered once.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mfaSealer } from '../../mfa/secrets.ts';
import type { AppContext } from '../context.ts';

/** What a ceremony is for: adding a passkey, signing in with one alone, or the second step of a sign-in. */
export type CeremonyPurpose = 'register' | 'login' | 'second-step';

export interface Ceremony {
  purpose: CeremonyPurpose;
  challenge: string;
  /** The signed-in user adding a passkey, or the user of the pending sign-in; null for a passkey sign-in. */
  userId: number | null;
  /** register: the WebAuthn user handle the options named. second-step: the pending sign-in's cookie, hashed. */
  bound: string;
  expires: number;
}

/** The browser's prompt times out after a minute or two; five leave room for a slow user. */
export const CEREMONY_LIFETIME_MS = 5 * 60 * 1000;

export interface Ceremonies {
  /** Seals `ceremony` into this reply's cookie, replacing any other of this browser. */
  start(reply: FastifyReply, ceremony: Omit<Ceremony, 'expires'>, now?: number): Promise<void>;
  /** The ceremony of this browser's cookie when it is for `purpose` and still live; the cookie is cleared either way. */
  take(request: FastifyRequest, reply: FastifyReply, purpose: CeremonyPurpose, now?: number): Promise<Ceremony | undefined>;
}

export function ceremonies(ctx: AppContext): Ceremonies {
  const { config } = ctx;
  const box = mfaSealer(config, 'webauthn ceremony');
  const name = config.secureCookies ? '__Host-oc_webauthn' : 'oc_webauthn';
  const options = { httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies } as const;
  return {
    async start(reply, ceremony, now = Date.now()) {
      const sealed = await box.seal(JSON.stringify({ ...ceremony, expires: now + CEREMONY_LIFETIME_MS }));
      reply.setCookie(name, sealed, { ...options, maxAge: CEREMONY_LIFETIME_MS / 1000 });
    },
    async take(request, reply, purpose, now = Date.now()) {
      const sealed = request.cookies[name];
      if (sealed === undefined) return undefined;
      reply.clearCookie(name, options);
      const opened = sealed.length > 8192 ? undefined : await box.open(sealed);
      const ceremony = opened === undefined ? undefined : JSON.parse(opened) as Ceremony; // sealed by us: authentic
      if (!ceremony || ceremony.purpose !== purpose || ceremony.expires <= now) return undefined;
      return ceremony;
    },
  };
}
