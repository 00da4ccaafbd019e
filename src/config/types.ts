// The shape of the validated configuration, apart from loading it, so that every parser in config/
// can name it without importing index.ts.
import type { JsonWebKey } from 'node:crypto';
import type { UnknownVariable } from './env.ts';

/** How a new provider user's username is made (provisioning/username.ts). */
export const USERNAME_ALGOS = ['claims', 'sha224', 'mozilla-django-oidc'] as const;
export type UsernameAlgo = (typeof USERNAME_ALGOS)[number];

/**
 * How the client authenticates wherever it does (token, PAR, introspection, revocation):
 * OIDC_RP_TOKEN_AUTH_METHOD.
 */
export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number];

/** What a private_key_jwt assertion may be signed with. */
export type ClientKeyAlgorithm = 'RS256' | 'PS256' | 'ES256';

/** A private key for private_key_jwt, from OIDC_RP_PRIVATE_KEY (src/config/client-keys.ts). */
export interface ClientKey {
  /** The file it was read from. */
  readonly file: string;
  /** The private key as a JWK: RSA (2048 bits or more) or EC P-256. */
  readonly jwk: Readonly<JsonWebKey>;
  /** The JWK file's own kid; absent for a PEM, whose kid is its RFC 7638 thumbprint. */
  readonly kid?: string;
  /** The JWK file's own alg; absent: ES256 for EC, RS256 for RSA unless the provider allows only PS256. */
  readonly alg?: ClientKeyAlgorithm;
}

/** OIDC_USE_PAR: push authorization requests (RFC 9126) when the provider offers it, always, or never. */
export const PAR_MODES = ['auto', 'on', 'off'] as const;
export type ParMode = (typeof PAR_MODES)[number];

export interface ProviderConfig {
  /** Stable id used in `?provider=` and stored with identities' sessions. */
  readonly id: string;
  /** How pages and messages name it: "Log In with {name}", "{name} could not be reached". */
  readonly name: string;
  /**
   * The button's label when it differs from `name`: an OIDC_ISSUER set without OIDC_PROVIDER_NAME keeps
   * the contract's "Log In with Okta", while messages name the provider by its issuer's host.
   */
  readonly label?: string;
  readonly issuer: string;
  readonly clientId: string;
  /** Absent only with private_key_jwt, which signs with `privateKeys` instead. */
  readonly clientSecret?: string;
  readonly scopes: readonly string[];
  /** Allowed ID-token algorithms; empty means "what the provider advertises, never none". */
  readonly signAlgs: readonly string[];
  readonly usernameAlgo: UsernameAlgo;
  /** The tutorial's explicit endpoint variables; each one overrides discovery. */
  readonly endpoints: Readonly<{ authorization?: string; token?: string; userinfo?: string; jwks?: string; introspection?: string }>;
  /**
   * Set: always this method. Absent: Basic when the provider lists it (else post), and post from
   * the first time the provider refuses Basic with invalid_client while listing post (rp/provider.ts).
   */
  readonly tokenAuthMethod?: TokenAuthMethod;
  /**
   * OIDC_RP_PRIVATE_KEY: the first signs private_key_jwt assertions, all are published at
   * /.well-known/jwks.json (several for rotation). Empty or absent: no keys.
   */
  readonly privateKeys?: readonly ClientKey[];
  /** OIDC_USE_PAR; absent means `auto`. */
  readonly par?: ParMode;
  /** OIDC_DPOP: provider tokens bound to a key of the session's (RFC 9449). */
  readonly dpop?: boolean;
  /**
   * The settings this provider came from, so that an error names the one to fix (e.g. issuer
   * `OKTA_DOMAIN`, credentials `OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET`). Absent for a provider built in code.
   */
  readonly settings?: Readonly<{ issuer: string; credentials: string }>;
}

export type DatabaseConfig =
  | {
    readonly kind: 'sqlite';
    readonly file: string;
    readonly display: string;
    /** Create the file's directory when missing: set for the default ./data only, so a mistyped path is reported, not created. */
    readonly createDirectory?: boolean;
  }
  | { readonly kind: 'postgres'; readonly url: string; readonly display: string; readonly poolSize: number };

/** EMAIL_URL's SMTP server, as nodemailer's SMTP transport takes it (src/mail/transport.ts). */
export interface SmtpSettings {
  readonly kind: 'smtp';
  /** EMAIL_URL without its password or parameters, for messages. */
  readonly display: string;
  readonly host: string;
  readonly port: number;
  /** smtps://: TLS from the first byte. */
  readonly secure: boolean;
  /** smtp:// in production: the server must offer STARTTLS. Elsewhere it is used whenever offered. */
  readonly requireTls: boolean;
  readonly auth?: Readonly<{ user: string; pass: string }>;
  /** `?ca=`: the PEM of a private CA that signs the server's certificate, trusted besides the system's. */
  readonly ca?: string;
}

export interface MailConfig {
  /**
   * Where mail goes: EMAIL_URL's server; the development mailbox (no EMAIL_URL, outside production, on a
   * loopback APP_URL), kept in `dir`; or null, when mail is not set up and reset by email is off.
   */
  readonly transport: SmtpSettings | Readonly<{ kind: 'mailbox'; dir: string }> | null;
  /** DEFAULT_FROM_EMAIL: the sender of every mail. */
  readonly from: string;
  /** PASSWORD_RESET_TIMEOUT: how long a reset link works, in seconds (Django's name). */
  readonly passwordResetTimeoutSeconds: number;
}

/** A ROLE_RULES entry: members of `group` get `roles` (src/accounts/roles.ts). */
export interface RoleRule {
  readonly group: string;
  readonly roles: readonly string[];
}

/** METRICS=on (src/config/metrics.ts): how /metrics is served. */
export interface MetricsConfig {
  /** SHA-256 (base64url) of METRICS_TOKEN: a scrape must send it as a bearer token. null: none asked for. */
  readonly tokenHash: string | null;
  /** METRICS_PORT: /metrics on this port alone (on HOST), not on the app's; 0 takes a free one. null: on the app's port. */
  readonly port: number | null;
}

export interface Config {
  readonly production: boolean;
  /**
   * Variables set with a prefix of ours (OIDC_, OKTA_, SESSION_, EMAIL_, SCIM_) that nothing reads,
   * most likely typos: the server warns once at start, and `check` prints a WARN line each.
   */
  readonly unknownVariables: readonly UnknownVariable[];
  readonly host: string;
  readonly port: number;
  readonly appUrl: string;
  readonly secureCookies: boolean;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  /**
   * SESSION_SECRET. In development without it, '' from loadConfig(), which writes nothing; the
   * server's start (createRuntime, startServer) reads or makes the one kept in `dataDir`, see withSessionSecret.
   */
  readonly sessionSecret: string;
  /** `cache`: SESSION_CACHE, the in-process session cache (src/sessions/cache.ts). */
  readonly session: Readonly<{ maxAgeSeconds: number; idleTimeoutSeconds: number; cache: boolean }>;
  readonly lockout: Readonly<{ maxFailures: number; windowSeconds: number }>;
  /** Login and password-change POSTs: per client IP a minute, and password hashes at once per process. */
  readonly passwordChecks: Readonly<{
    /** LOGIN_RATE_LIMIT_PER_MINUTE: past it, 429 before any password is hashed. */
    perIpPerMinute: number;
    /** PASSWORD_HASH_CONCURRENCY: a few more wait their turn, the rest are answered 503. */
    hashConcurrency: number;
  }>;
  /** Logins in progress per client IP (OIDC_PENDING_LOGINS_PER_IP); past it the oldest one goes. */
  readonly pendingLoginsPerIp: number;
  /** Audit log of sign-in events: kept this many days (0 keeps them forever). */
  readonly audit: Readonly<{ retentionDays: number }>;
  readonly providers: readonly ProviderConfig[];
  /** Set when the embedded development provider must run (no real provider configured). */
  readonly devIdp: Readonly<{ port: number; usersFile?: string }> | null;
  readonly provisioning: Readonly<{
    createUser: boolean;
    linkByEmail: boolean;
    allowedEmailDomains: readonly string[];
    requiredGroups: readonly string[];
  }>;
  /** LOCAL_REQUIRED_GROUPS: when set, the password form signs in only their members, and superusers. */
  readonly localRequiredGroups: readonly string[];
  readonly apiAudience: string;
  /** SCIM 2.0 at /scim/v2 (src/scim/): off while `tokenHashes` is empty. */
  readonly scim: Readonly<{
    /** SHA-256 (base64url) of each SCIM_TOKENS token; several for rotation. */
    tokenHashes: readonly string[];
    /** SCIM_MATCH_CLAIM: the ID-token claim compared with a SCIM user's externalId at their first sign-in. */
    matchClaim: string;
  }>;
  /** ROLE_RULES: group name -> roles. */
  readonly roleRules: readonly RoleRule[];
  /** UNIVERSAL_LOGOUT_ISSUER (default: the first provider's issuer); null without a provider. */
  readonly universalLogoutIssuer: string | null;
  /** Opaque bearer tokens, which only the provider can check (src/rp/bearer/opaque.ts). */
  readonly opaqueTokens: Readonly<{
    /** Clients besides our own whose tokens the API accepts (OIDC_API_ALLOWED_CLIENTS). */
    allowedClients: readonly string[];
    /** Without introspection, accept any token userinfo takes (OIDC_API_OPAQUE_USERINFO). */
    userinfoFallback: boolean;
    /** Provider checks of unconfirmed tokens per client IP per minute (OIDC_API_OPAQUE_LIMIT_PER_MINUTE). */
    limitPerMinute: number;
  }>;
  readonly renewIdTokenExpirySeconds: number;
  /** Where a sign-in without a usable `next` lands (LOGIN_REDIRECT_URL, as in Django). */
  readonly loginRedirectUrl: string;
  /** Where a sign-out lands (LOGOUT_REDIRECT_URL, as in Django). */
  readonly logoutRedirectUrl: string;
  /** Second factors (src/mfa/). */
  readonly mfa: Readonly<{
    /** ADMIN_REQUIRE_MFA: staff need a second factor (local) or a multi-factor sign-in (provider) for /admin/. */
    adminRequired: boolean;
    /** OIDC_MFA_ACR_VALUES: `acr` values that count as multi-factor, and are asked for at step-up. */
    acrValues: readonly string[];
    /** MFA_ENCRYPTION_KEY; null: TOTP secrets are sealed under SESSION_SECRET. */
    encryptionKey: string | null;
  }>;
  readonly clockToleranceSeconds: number;
  readonly httpTimeoutMs: number;
  readonly trustProxy: boolean | number | string;
  readonly logLevel: string;
  readonly mail: MailConfig;
  /** METRICS, METRICS_TOKEN, METRICS_PORT: Prometheus metrics at /metrics; null when off. */
  readonly metrics: MetricsConfig | null;
}
