/**
 * The enterprise lifecycle's settings: SCIM_TOKENS and SCIM_MATCH_CLAIM (src/scim/), ROLE_RULES
 * (src/accounts/roles.ts) and UNIVERSAL_LOGOUT_ISSUER (src/rp/universal-logout.ts).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sha256Base64url } from '../digest.ts';
import type { Env } from './env.ts';
import { bearerSecretProblem, issuerUrl, list, Problems, text } from './parse.ts';
import type { RoleRule } from './types.ts';

const ROLE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_RULES = 1000;
const GROUP_NAME_MAX = 150;

/** SCIM_TOKENS as the SHA-256 of each token (the tokens themselves are not kept); empty: SCIM is off. */
export function scimTokenHashes(env: Env, problems: Problems): string[] {
  const tokens = list(env, 'SCIM_TOKENS');
  const hashes: string[] = [];
  tokens.forEach((token, index) => {
    const which = tokens.length > 1 ? `token ${index + 1} of SCIM_TOKENS` : 'SCIM_TOKENS';
    const problem = bearerSecretProblem(token);
    if (problem === undefined) hashes.push(sha256Base64url(token));
    else problems.add('SCIM_TOKENS', undefined, `${which} ${problem}`);
  });
  return hashes;
}

/** SCIM_MATCH_CLAIM: the ID-token claim compared with a SCIM user's externalId (Entra: oid). */
export function scimMatchClaim(env: Env, problems: Problems): string {
  const claim = text(env, 'SCIM_MATCH_CLAIM') ?? 'sub';
  if (!CLAIM_NAME.test(claim)) problems.add('SCIM_MATCH_CLAIM', claim, 'must be a claim name such as sub or oid');
  return claim;
}

/**
 * ROLE_RULES: a JSON object of group name -> roles, given inline (it starts with `{` or `[`) or as the
 * path of a file holding it, e.g. `{"Okta Admins": ["superuser"], "Support": ["staff", "support"]}`.
 * Each problem is one line: JSON.parse quotes the text it choked on, line breaks of a file included.
 */
export function roleRules(env: Env, problems: Problems, cwd: string): RoleRule[] {
  const raw = text(env, 'ROLE_RULES');
  if (raw === undefined) return [];
  const example = '{"Support": ["staff", "support"]}';
  let json = raw;
  let file: string | undefined;
  if (!raw.startsWith('{') && !raw.startsWith('[')) {
    file = resolve(cwd, raw);
    try {
      json = readFileSync(file, 'utf8');
    } catch (error) {
      problems.add('ROLE_RULES', raw, `is neither a JSON object nor a readable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the rules inline, such as ${example}, or the path of a file holding them`);
      return [];
    }
  }
  const add = (fix: string) => problems.add('ROLE_RULES', undefined, (file === undefined ? fix : `the file ${file}: ${fix}`).replace(/\s+/g, ' '));
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    add(`is not valid JSON (${(error as Error).message}); write it as {"Group name": ["role", …]}`);
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    add(`must be a JSON object of group name -> list of roles, such as ${example}`);
    return [];
  }
  const entries = Object.entries(parsed);
  if (entries.length > MAX_RULES) {
    add(`has ${entries.length} groups; at most ${MAX_RULES} are allowed`);
    return [];
  }
  const rules: RoleRule[] = [];
  for (const [group, roles] of entries) {
    if (group.trim() === '' || group.length > GROUP_NAME_MAX) {
      add(`the group name ${JSON.stringify(group.slice(0, 40))} must have 1 to ${GROUP_NAME_MAX} characters`);
      continue;
    }
    if (!Array.isArray(roles) || roles.length === 0) {
      add(`the group ${JSON.stringify(group)} must map to a non-empty list of roles, such as ["staff"], not ${JSON.stringify(roles)?.slice(0, 40)}`);
      continue;
    }
    const bad = roles.filter((role) => typeof role !== 'string' || !ROLE_NAME.test(role));
    if (bad.length > 0) {
      add(`the group ${JSON.stringify(group)} has the role ${JSON.stringify(bad[0])?.slice(0, 80)}; a role is a string of 1 to 64 letters, digits and _ . : -`);
      continue;
    }
    rules.push({ group, roles: [...new Set(roles as string[])] });
  }
  return rules;
}

/**
 * UNIVERSAL_LOGOUT_ISSUER: whose signed JWTs may call the Universal Logout receiver; default the
 * first provider's issuer; null when there is no provider.
 */
export function universalLogoutIssuer(env: Env, problems: Problems, providerIssuer: string | undefined): string | null {
  const raw = text(env, 'UNIVERSAL_LOGOUT_ISSUER');
  if (raw === undefined) return providerIssuer ?? null;
  return issuerUrl(problems, 'UNIVERSAL_LOGOUT_ISSUER', raw) ?? null;
}
