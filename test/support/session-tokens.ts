import { SessionTokens, type ProviderTokens } from '../../src/rp/session-tokens.ts';
import { parseTokens, serializeTokens } from '../../src/sessions/tokens.ts';

/** A session row's provider tokens (its `data`), opened as the app opens them with its SESSION_SECRET. */
export async function openRowTokens(sessionSecret: string, data: string): Promise<ProviderTokens> {
  const tokens = await new SessionTokens(sessionSecret).open(parseTokens(data));
  if (tokens === undefined) throw new Error('the session row\'s tokens do not open with this SESSION_SECRET');
  return tokens;
}

/** A session row's `data` for these tokens, sealed as the app seals them. */
export async function sealRowTokens(sessionSecret: string, tokens: ProviderTokens): Promise<string> {
  return serializeTokens(await new SessionTokens(sessionSecret).seal(tokens));
}
