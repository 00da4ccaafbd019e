import type { Config } from '../config/index.ts';
import { sealer, type Sealer } from '../sealed.ts';

/**
 * The sealer for one of second factors' secrets: under MFA_ENCRYPTION_KEY when it is set, else
 * SESSION_SECRET, each `purpose` under a key of its own (see src/sealed.ts).
 *
 * @example
 * const box = mfaSealer(config, 'totp secret');
 */
export function mfaSealer(config: Pick<Config, 'mfa' | 'sessionSecret'>, purpose: string): Sealer {
  return sealer(config.mfa.encryptionKey ?? config.sessionSecret, purpose);
}
