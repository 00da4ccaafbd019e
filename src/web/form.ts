/**
 * One string field of a parsed form body or query string: '' when it is missing, repeated or not
 * text, so handlers validate a plain string.
 */
export function field(fields: unknown, name: string): string {
  const value = (fields as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}
