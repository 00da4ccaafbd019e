/** Bits a secret needs: what `openssl rand -base64 48` gives, with room to spare, is 288. */
export const MIN_SECRET_BITS = 128;

/** Sizes of the character classes a secret may draw on. */
const CLASSES: ReadonlyArray<[RegExp, number]> = [[/[a-z]/, 26], [/[A-Z]/, 26], [/[0-9]/, 10], [/[^a-zA-Z0-9]/, 33]];

/**
 * A generous estimate of a secret's entropy in bits, meant only to refuse the obviously weak ones:
 * its length without repeats (its shortest period, so `abcabc…` counts 3 characters) times log2 of
 * the alphabet it seems drawn from: its distinct characters rounded up to a power of two (as hex and
 * base64 are), and never more than the character classes it uses.
 */
export function estimatedEntropyBits(secret: string): number {
  const chars = [...secret];
  if (chars.length === 0) return 0;
  const distinct = new Set(chars).size;
  const classes = CLASSES.reduce((sum, [pattern, size]) => sum + (pattern.test(secret) ? size : 0), 0);
  const alphabet = Math.min(2 ** Math.ceil(Math.log2(distinct)), classes);
  return Math.floor(shortestPeriod(chars) * Math.log2(alphabet));
}

/** Knuth–Morris–Pratt failure function: the length minus the longest proper prefix that is also a suffix. */
function shortestPeriod(chars: readonly string[]): number {
  const border = new Array<number>(chars.length).fill(0);
  for (let i = 1, k = 0; i < chars.length; i++) {
    while (k > 0 && chars[i] !== chars[k]) k = border[k - 1]!;
    if (chars[i] === chars[k]) k++;
    border[i] = k;
  }
  return chars.length - border[chars.length - 1]!;
}
