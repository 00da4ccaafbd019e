/**
 * The JWS algorithms any token we verify may use (ID, access and logout tokens): asymmetric only,
 * so `none` and MACs keyed by something public (the HS256-with-the-RSA-key attack) never verify.
 */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);
