/**
 * A per-client-IP limit on asking the provider about opaque tokens. Unknown random tokens are never
 * cached as a group (each is new), so without it every one would be an introspection call. Each IP
 * gets `perMinute` provider checks per fixed one-minute window; a check the provider confirms is
 * given back, so a gateway forwarding many users' valid tokens is not held up by its own success.
 * Counters sit in an LRU (bounded memory, whatever the number of addresses); an address pushed out
 * starts afresh, which only happens under a flood from more addresses than `maxAddresses`.
 */
import { LRUCache } from 'lru-cache';
import { OidcConnectError } from '../../errors.ts';

/** 429: this address sent too many tokens the provider did not confirm; Retry-After says when to come back. */
export class TooManyTokenChecks extends OidcConnectError {
  override readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super('TOO_MANY_ATTEMPTS', `Too many unknown access tokens from this address. Try again in ${retryAfterSeconds} seconds.`);
    this.name = 'TooManyTokenChecks';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const WINDOW_MS = 60_000;

export class TokenCheckLimiter {
  readonly #perMinute: number;
  readonly #counts: LRUCache<string, { used: number }>;

  constructor(perMinute: number, maxAddresses = 10_000) {
    this.#perMinute = perMinute;
    this.#counts = new LRUCache({
      max: maxAddresses,
      ttl: WINDOW_MS,
      // Date.now, as the token cache uses, so that one clock (and a test's mocked one) drives both.
      perf: { now: () => Date.now() },
      ttlResolution: 0,
    });
  }

  /** Takes one check for `ip`, or throws TooManyTokenChecks when its window is used up. */
  take(ip: string): void {
    const entry = this.#counts.get(ip);
    if (entry === undefined) {
      this.#counts.set(ip, { used: 1 }); // the window starts now and is not extended by later checks
      return;
    }
    if (entry.used >= this.#perMinute) {
      throw new TooManyTokenChecks(Math.max(1, Math.ceil(this.#counts.getRemainingTTL(ip) / 1000)));
    }
    entry.used++;
  }

  /** Gives back a check the provider confirmed. */
  giveBack(ip: string): void {
    const entry = this.#counts.get(ip);
    if (entry !== undefined && entry.used > 0) entry.used--;
  }
}
