import { createHash, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OidcConnectError } from '../errors.ts';

/**
 * Django's password hashes, kept as `django$<Django's encoded hash>` so that they can never be
 * mistaken for our own `scrypt$…` (Django's scrypt hashes start the same way). They are verified
 * here and replaced by our own hash at the first successful login (see rehash.ts).
 */
export const DJANGO_PREFIX = 'django$';

export type DjangoHash =
  | { kind: 'usable'; algorithm: string; verify: (password: string) => Promise<boolean> }
  /** `!…`: Django's set_unusable_password(); the user signs in through a provider only. */
  | { kind: 'unusable' }
  /** A format too weak to keep (unsalted or salted MD5/SHA-1, crypt): the user must reset. */
  | { kind: 'weak'; algorithm: string }
  /** Well-formed, but asking for more work than HASH_LIMITS allow: never checked; the user must reset. */
  | { kind: 'too-costly'; algorithm: string; reason: string }
  | { kind: 'corrupt'; reason: string };

/**
 * The most work an imported hash may ask for: a little above the most that Django's own hashers ever
 * used, so that any hash Django made verifies, while a hostile or broken row cannot hold a hashing slot
 * (PASSWORD_HASH_CONCURRENCY) for minutes. Django's values, from django/contrib/auth/hashers.py:
 * - PBKDF2 iterations rose with every release: 10,000 in 1.4, 260,000 in 3.2, 600,000 in 4.2,
 *   1,000,000 in 5.2, 1,200,000 in 6.0, 1,500,000 in 6.1, 1,800,000 in 6.2;
 * - bcrypt: 12 rounds in every release;
 * - argon2: time_cost 2 always; memory_cost 512 KiB and parallelism 2 until 3.1, then 102,400 and 8;
 * - scrypt (4.0+): N = 2^14, r = 8, p = 1.
 * On one loaded core of a 2-core machine, Django's defaults took 1.0 s (argon2), 0.5 s (bcrypt 12),
 * 0.4 s (PBKDF2, 1,200,000) and 0.3 s (scrypt); the limits allow two to four times that.
 */
export const HASH_LIMITS = Object.freeze({
  pbkdf2Iterations: 4_000_000,
  bcryptCost: 13,
  /** time_cost × memory_cost (KiB): twice Django's 2 × 102,400. */
  argon2Work: 409_600,
  /** KiB, 256 MiB. */
  argon2Memory: 262_144,
  argon2Parallelism: 16,
  /** N × r × p: four times Django's 2^14 × 8 × 1. */
  scryptWork: 2 ** 19,
  /** Bytes scrypt needs (128 × N × r): 128 MiB, as this app's own scrypt (N = 2^17, r = 8). */
  scryptMemory: 128 * 1024 ** 2,
});

/**
 * How long a worker thread may take for one argon2 or bcrypt check before it is terminated, so that its
 * hashing slot always comes back: five times what the limits above allow on a loaded core.
 */
export const WORKER_DEADLINE_MS = 10_000;

/** Sanity bounds of the formats themselves: beyond them a value is not a hash at all. */
const MAX_PBKDF2_ITERATIONS = 2 ** 32 - 1;

const WEAK = new Set(['md5', 'sha1', 'unsalted_md5', 'unsalted_sha1', 'crypt']);
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function isDjangoHash(stored: string | null): boolean {
  return stored !== null && stored.startsWith(DJANGO_PREFIX);
}

/**
 * True when `password` matches a stored `django$…` hash; false for anything malformed, weak or unusable.
 * A hash above HASH_LIMITS is not checked: PASSWORD_HASH_REFUSED. An argon2 or bcrypt check that
 * outlives `deadlineMs` ends its worker thread: PASSWORD_HASH_TIMEOUT.
 *
 * @example
 *   await verifyDjangoPassword('secret', 'django$pbkdf2_sha256$1000000$salt$…'); // true or false
 */
export async function verifyDjangoPassword(password: string, stored: string, options: { deadlineMs?: number } = {}): Promise<boolean> {
  const parsed = parseDjangoHash(stored.slice(DJANGO_PREFIX.length), options);
  if (parsed.kind === 'too-costly') {
    throw new OidcConnectError('PASSWORD_HASH_REFUSED',
      `This account's password was imported with a ${parsed.algorithm} hash that asks for more work than this app checks (${parsed.reason}). An administrator must set a new password.`);
  }
  return parsed.kind === 'usable' ? parsed.verify(password) : false;
}

/** What a value of Django's `auth_user.password` column is, following Django's identify_hasher(). */
export function parseDjangoHash(encoded: string, options: { deadlineMs?: number } = {}): DjangoHash {
  const deadlineMs = options.deadlineMs ?? WORKER_DEADLINE_MS;
  if (encoded === '' || encoded.startsWith('!')) return { kind: 'unusable' };
  // Ancient Django: bare MD5 hex, or MD5/SHA-1 with an empty salt.
  if (/^[0-9a-f]{32}$/i.test(encoded) || encoded.startsWith('md5$$')) return { kind: 'weak', algorithm: 'unsalted_md5' };
  if (encoded.startsWith('sha1$$')) return { kind: 'weak', algorithm: 'unsalted_sha1' };
  const algorithm = encoded.slice(0, encoded.indexOf('$'));
  if (WEAK.has(algorithm)) return { kind: 'weak', algorithm };
  switch (algorithm) {
    case 'pbkdf2_sha256':
      return parsePbkdf2(encoded, 'sha256', 32);
    case 'pbkdf2_sha1':
      return parsePbkdf2(encoded, 'sha1', 20);
    case 'argon2':
      return parseArgon2(encoded, deadlineMs);
    case 'bcrypt_sha256':
      // Django hashes the password first (bcrypt stops at 72 bytes): hex of its SHA-256.
      return parseBcrypt(encoded, algorithm, (password) => Buffer.from(createHash('sha256').update(password, 'utf8').digest('hex')), deadlineMs);
    case 'bcrypt':
      return parseBcrypt(encoded, algorithm, (password) => Buffer.from(password, 'utf8'), deadlineMs);
    case 'scrypt':
      return parseScrypt(encoded);
    default:
      return { kind: 'corrupt', reason: algorithm ? `unknown hasher "${algorithm.slice(0, 40)}"` : 'not a Django password hash' };
  }
}

/**
 * `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (Django's default). PBKDF2 and scrypt run on Node's
 * thread pool, where a running hash cannot be stopped: HASH_LIMITS alone bound them, with no deadline
 * (giving the slot back while its thread still works would let more hashes start than there are threads).
 */
function parsePbkdf2(encoded: string, digest: 'sha256' | 'sha1', length: number): DjangoHash {
  const [algorithm = '', iterations, salt, hash] = encoded.split('$');
  const expected = decodeBase64(hash);
  const rounds = Number(iterations);
  if (encoded.split('$').length !== 4 || !salt || !Number.isSafeInteger(rounds) || rounds < 1 || rounds > MAX_PBKDF2_ITERATIONS
    || expected?.length !== length) {
    return { kind: 'corrupt', reason: `malformed ${algorithm} hash` };
  }
  if (rounds > HASH_LIMITS.pbkdf2Iterations) {
    return { kind: 'too-costly', algorithm, reason: `${rounds} iterations; at most ${HASH_LIMITS.pbkdf2Iterations}` };
  }
  return {
    kind: 'usable',
    algorithm,
    verify: (password) => new Promise((resolve, reject) => {
      pbkdf2(password, salt, rounds, length, digest, (error, key) => (error ? reject(error) : resolve(timingSafeEqual(key, expected))));
    }),
  };
}

/** `scrypt$<N>$<salt>$<r>$<p>$<base64 hash>` (Django 4.0+): parameters in another order than ours. */
function parseScrypt(encoded: string): DjangoHash {
  const parts = encoded.split('$');
  const [, n, salt, r, p, hash] = parts;
  const [N, R, P] = [Number(n), Number(r), Number(p)];
  const expected = decodeBase64(hash);
  const memory = 128 * N * R;
  if (parts.length !== 6 || !salt || !expected || expected.length < 16 || ![N, R, P].every((v) => Number.isSafeInteger(v) && v >= 1)
    || N < 2 || !Number.isInteger(Math.log2(N))) {
    return { kind: 'corrupt', reason: 'malformed scrypt hash' };
  }
  if (memory > HASH_LIMITS.scryptMemory || N * R * P > HASH_LIMITS.scryptWork) {
    return {
      kind: 'too-costly', algorithm: 'scrypt',
      reason: `N=${N}, r=${R}, p=${P}; at most N × r × p = ${HASH_LIMITS.scryptWork} and 128 × N × r = ${HASH_LIMITS.scryptMemory} bytes`,
    };
  }
  return {
    kind: 'usable',
    algorithm: 'scrypt',
    verify: (password) => new Promise((resolve, reject) => {
      scrypt(password, salt, expected.length, { N, r: R, p: P, maxmem: 2 * memory + 1024 * 1024 }, (error, key) =>
        (error ? reject(error) : resolve(timingSafeEqual(key, expected))));
    }),
  };
}

/** `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>`: argon2-cffi's encoding behind Django's prefix. */
function parseArgon2(encoded: string, deadlineMs: number): DjangoHash {
  const match = /^argon2\$argon2(id|i|d)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(encoded);
  const [, variant, m, t, p, salt64, hash64] = match ?? [];
  const salt = decodeBase64(salt64);
  const expected = decodeBase64(hash64);
  const [memorySize, iterations, parallelism] = [Number(m), Number(t), Number(p)];
  if (!variant || !salt || !expected || salt.length < 8 || expected.length < 4 || ![memorySize, iterations, parallelism].every(Number.isSafeInteger)
    || iterations < 1 || parallelism < 1 || parallelism > 2 ** 24 - 1 || memorySize < 8 * parallelism) {
    return { kind: 'corrupt', reason: 'malformed argon2 hash (or an argon2 version other than 19)' };
  }
  if (memorySize > HASH_LIMITS.argon2Memory || iterations * memorySize > HASH_LIMITS.argon2Work || parallelism > HASH_LIMITS.argon2Parallelism) {
    return {
      kind: 'too-costly', algorithm: 'argon2',
      reason: `m=${memorySize}, t=${iterations}, p=${parallelism}; at most m=${HASH_LIMITS.argon2Memory} KiB, t × m = ${HASH_LIMITS.argon2Work}, p=${HASH_LIMITS.argon2Parallelism}`,
    };
  }
  return {
    kind: 'usable',
    algorithm: 'argon2',
    verify: async (password) => {
      const key = await inWorker({
        kind: `argon2${variant as 'id' | 'i' | 'd'}`,
        password: Buffer.from(password, 'utf8'),
        salt, iterations, parallelism, memorySize, hashLength: expected.length,
      }, deadlineMs);
      return timingSafeEqual(key, expected);
    },
  };
}

/** `bcrypt$$2b$12$<22 salt chars><31 hash chars>`, and the same behind `bcrypt_sha256$`. */
function parseBcrypt(encoded: string, algorithm: string, input: (password: string) => Buffer, deadlineMs: number): DjangoHash {
  const match = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(encoded.slice(algorithm.length + 1));
  const cost = Number(match?.[1]);
  if (!match || cost < 4 || cost > 31) return { kind: 'corrupt', reason: `malformed ${algorithm} hash` };
  if (cost > HASH_LIMITS.bcryptCost) return { kind: 'too-costly', algorithm, reason: `cost ${cost}; at most ${HASH_LIMITS.bcryptCost}` };
  const salt = decodeBcryptBase64(match[2]!).subarray(0, 16);
  const expected = decodeBcryptBase64(match[3]!).subarray(0, 23);
  return {
    kind: 'usable',
    algorithm,
    verify: async (password) => {
      // bcrypt reads at most 72 bytes, as Django's bcrypt library does.
      const key = await inWorker({ kind: 'bcrypt', password: input(password).subarray(0, 72), salt, costFactor: cost }, deadlineMs);
      // The encoded form keeps 23 of bcrypt's 24 bytes.
      return timingSafeEqual(key.subarray(0, 23), expected);
    },
  };
}

function decodeBase64(value: string | undefined): Buffer | undefined {
  return value && B64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

/** bcrypt's base64 is the standard one with another alphabet. */
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const STANDARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function decodeBcryptBase64(value: string): Buffer {
  return Buffer.from([...value].map((c) => STANDARD_ALPHABET[BCRYPT_ALPHABET.indexOf(c)]).join(''), 'base64');
}

export type WorkerJob =
  | { kind: 'argon2id' | 'argon2i' | 'argon2d'; password: Buffer; salt: Buffer; iterations: number; parallelism: number; memorySize: number; hashLength: number }
  | { kind: 'bcrypt'; password: Buffer; salt: Buffer; costFactor: number };

/**
 * argon2 and bcrypt run as WebAssembly (hash-wasm), which would hold the event loop for the
 * whole hash (seconds for Django's argon2 defaults): each one runs in a worker thread instead.
 * This happens once per imported user, at their first login. Past `deadlineMs` the worker is
 * terminated (WebAssembly stops at once) and the check fails, so the caller's slot comes back.
 */
function inWorker(job: WorkerJob, deadlineMs: number): Promise<Buffer> {
  const file = new URL(`./django-hash-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: job });
    const deadline = setTimeout(() => {
      void worker.terminate();
      reject(new OidcConnectError('PASSWORD_HASH_TIMEOUT',
        `Checking the password took longer than ${deadlineMs / 1000} s, so it was stopped. Please try again in a moment.`,
        { retryAfterSeconds: 2 }));
    }, deadlineMs);
    worker.once('message', (key: Uint8Array) => resolve(Buffer.from(key)));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`password hash worker exited with code ${code}`));
    });
  });
}
