/**
 * PASSWORD_HASH_COST: log2 of scrypt's N for new password hashes (src/accounts/passwords.ts). 17, OWASP's
 * N = 2^17, is the default and the least production takes. Outside production it may go down to 14:
 * a test suite that signs in hundreds of times otherwise spends most of its time hashing, which is why
 * Django's test settings swap in a cheap hasher. A stored hash keeps the cost it was made with, so
 * changing this never locks anybody out.
 *
 * @example
 *   passwordHashCost({ PASSWORD_HASH_COST: '14' }, problems) // 14
 */
import type { Env } from './env.ts';
import { Problems, integer, text } from './parse.ts';

export const DEFAULT_PASSWORD_HASH_COST = 17;

export function passwordHashCost(env: Env, problems: Problems): number {
  const cost = integer(env, problems, 'PASSWORD_HASH_COST', DEFAULT_PASSWORD_HASH_COST, 14, 20);
  if (cost < DEFAULT_PASSWORD_HASH_COST && text(env, 'NODE_ENV') === 'production') {
    problems.add('PASSWORD_HASH_COST', String(cost), `is for tests only below ${DEFAULT_PASSWORD_HASH_COST} (OWASP's scrypt N=2^17); unset it in production`);
    return DEFAULT_PASSWORD_HASH_COST;
  }
  return cost;
}
