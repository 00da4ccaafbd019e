import { OidcConnectError } from '../../errors.ts';

/** Seconds a busy answer asks the client to wait: about one hash's time, with room. */
const BUSY_RETRY_SECONDS = 2;

/**
 * Caps the password hashes one process runs at once. A hash (scrypt, or a Django PBKDF2) takes a
 * libuv thread for up to a second; unbounded, a burst of login forms takes every thread, and with
 * them the provider logins' crypto and DNS. `concurrency` run, `queue` more wait in order, and any
 * beyond that are refused at once with SERVER_BUSY (503, Retry-After), so nothing queues without bound.
 */
export class HashingCapacity {
  readonly #concurrency: number;
  readonly #queue: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(concurrency: number, queue = 4 * concurrency) {
    this.#concurrency = concurrency;
    this.#queue = queue;
  }

  /** Hashes running now (metrics). */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a slot now: the queue's depth (metrics). */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#queue) {
        throw new OidcConnectError('SERVER_BUSY', 'The server is busy checking passwords. Please try again in a moment.',
          { retryAfterSeconds: BUSY_RETRY_SECONDS });
      }
      // The slot is handed over by the finishing run, so #running never drops in between.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

const capacities = new WeakMap<object, HashingCapacity>();

/**
 * The one capacity of a runtime, shared by every form that hashes a password (login, password change,
 * password reset, email change), so PASSWORD_HASH_CONCURRENCY bounds them all together. Keyed by the
 * runtime's configuration object.
 *
 * @example
 * const hashing = hashingCapacityOf(ctx.config);
 * const ok = await hashing.run(() => verifyPassword(password, user.password));
 */
export function hashingCapacityOf(config: { readonly passwordChecks: { readonly hashConcurrency: number } }): HashingCapacity {
  let capacity = capacities.get(config);
  if (capacity === undefined) capacities.set(config, (capacity = new HashingCapacity(config.passwordChecks.hashConcurrency)));
  return capacity;
}
