import { createHash, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

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
  | { kind: 'corrupt'; reason: string };

/** Bounds that stop a hostile or broken row from costing minutes or gigabytes per login. */
const MAX_PBKDF2_ITERATIONS = 100_000_000;
const MAX_MEMORY_BYTES = 1024 ** 3;

const WEAK = new Set(['md5', 'sha1', 'unsalted_md5', 'unsalted_sha1', 'crypt']);
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function isDjangoHash(stored: string | null): boolean {
  return stored !== null && stored.startsWith(DJANGO_PREFIX);
}

/** True when `password` matches a stored `django$…` hash; false for anything malformed. */
export async function verifyDjangoPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseDjangoHash(stored.slice(DJANGO_PREFIX.length));
  return parsed.kind === 'usable' ? parsed.verify(password) : false;
}

/** What a value of Django's `auth_user.password` column is, following Django's identify_hasher(). */
export function parseDjangoHash(encoded: string): DjangoHash {
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
      return parseArgon2(encoded);
    case 'bcrypt_sha256':
      // Django hashes the password first (bcrypt stops at 72 bytes): hex of its SHA-256.
      return parseBcrypt(encoded, algorithm, (password) => Buffer.from(createHash('sha256').update(password, 'utf8').digest('hex')));
    case 'bcrypt':
      return parseBcrypt(encoded, algorithm, (password) => Buffer.from(password, 'utf8'));
    case 'scrypt':
      return parseScrypt(encoded);
    default:
      return { kind: 'corrupt', reason: algorithm ? `unknown hasher "${algorithm.slice(0, 40)}"` : 'not a Django password hash' };
  }
}

/** `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (Django's default). */
function parsePbkdf2(encoded: string, digest: 'sha256' | 'sha1', length: number): DjangoHash {
  const [algorithm = '', iterations, salt, hash] = encoded.split('$');
  const expected = decodeBase64(hash);
  const rounds = Number(iterations);
  if (encoded.split('$').length !== 4 || !salt || !Number.isSafeInteger(rounds) || rounds < 1 || rounds > MAX_PBKDF2_ITERATIONS
    || expected?.length !== length) {
    return { kind: 'corrupt', reason: `malformed ${algorithm} hash` };
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
    || (N & (N - 1)) !== 0 || memory > MAX_MEMORY_BYTES / 2) {
    return { kind: 'corrupt', reason: 'malformed scrypt hash' };
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
function parseArgon2(encoded: string): DjangoHash {
  const match = /^argon2\$argon2(id|i|d)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(encoded);
  const [, variant, m, t, p, salt64, hash64] = match ?? [];
  const salt = decodeBase64(salt64);
  const expected = decodeBase64(hash64);
  const [memorySize, iterations, parallelism] = [Number(m), Number(t), Number(p)];
  if (!variant || !salt || !expected || salt.length < 8 || expected.length < 4 || iterations < 1 || parallelism < 1
    || parallelism > 255 || memorySize < 8 * parallelism || memorySize * 1024 > MAX_MEMORY_BYTES) {
    return { kind: 'corrupt', reason: 'malformed argon2 hash (or an argon2 version other than 19)' };
  }
  return {
    kind: 'usable',
    algorithm: 'argon2',
    verify: async (password) => {
      const key = await inWorker({
        kind: `argon2${variant as 'id' | 'i' | 'd'}`,
        password: Buffer.from(password, 'utf8'),
        salt, iterations, parallelism, memorySize, hashLength: expected.length,
      });
      return timingSafeEqual(key, expected);
    },
  };
}

/** `bcrypt$$2b$12$<22 salt chars><31 hash chars>`, and the same behind `bcrypt_sha256$`. */
function parseBcrypt(encoded: string, algorithm: string, input: (password: string) => Buffer): DjangoHash {
  const match = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(encoded.slice(algorithm.length + 1));
  const cost = Number(match?.[1]);
  if (!match || cost < 4 || cost > 31) return { kind: 'corrupt', reason: `malformed ${algorithm} hash` };
  const salt = decodeBcryptBase64(match[2]!).subarray(0, 16);
  const expected = decodeBcryptBase64(match[3]!).subarray(0, 23);
  return {
    kind: 'usable',
    algorithm,
    verify: async (password) => {
      // bcrypt reads at most 72 bytes, as Django's bcrypt library does.
      const key = await inWorker({ kind: 'bcrypt', password: input(password).subarray(0, 72), salt, costFactor: cost });
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
 * This happens once per imported user, at their first login.
 */
function inWorker(job: WorkerJob): Promise<Buffer> {
  const file = new URL(`./django-hash-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: job });
    worker.once('message', (key: Uint8Array) => resolve(Buffer.from(key)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`password hash worker exited with code ${code}`)));
  });
}
