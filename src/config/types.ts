// The shape of the validated configuration, apart from loading it, so that every parser in config/
// can name it without importing index.ts.

/** How a new provider user's username is made (provisioning/username.ts). */
export const USERNAME_ALGOS = ['claims', 'sha224', 'mozilla-django-oidc'] as const;
export type UsernameAlgo = (typeof USERNAME_ALGOS)[number];

/** How the client authenticates at the token endpoint (OIDC_RP_TOKEN_AUTH_METHOD). */
export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number];

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
  readonly clientSecret: string;
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

export interface Config {
  readonly production: boolean;
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
  readonly clockToleranceSeconds: number;
  readonly httpTimeoutMs: number;
  readonly trustProxy: boolean | number | string;
  readonly logLevel: string;
}
