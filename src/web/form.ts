/**
 * One string field of a parsed form body or query string: '' when it is missing, repeated or not
 * text, so handlers validate a plain string.
 */
export function field(fields: unknown, name: string): string {
  const value = (fields as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** A browser's answer to a WebAuthn prompt is a few KB; a field much larger is not one. */
const MAX_WEBAUTHN_ANSWER = 16_384;

/**
 * The WebAuthn answer the page's script put into a form field (`credential`) as JSON: the parsed
 * value, or null when the field is missing, too large or not JSON.
 */
export function webauthnAnswer(fields: unknown, name = 'credential'): unknown {
  const text = field(fields, name);
  if (text === '' || text.length > MAX_WEBAUTHN_ANSWER) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
