import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * Times are epoch milliseconds and flags are 0/1 integers in both dialects, so every query is
 * the same on SQLite and PostgreSQL (pg's int8 parser is set to return numbers).
 */
type Millis = number;
type Flag = 0 | 1;

export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string;
  /** The email's comparison key (src/accounts/email.ts): linking and uniqueness checks compare this. */
  email_key: ColumnType<string, string | undefined, string>;
  /** 1 when an operator set the email or the provider said email_verified: only then a link target. */
  email_verified: ColumnType<Flag, Flag | undefined, Flag>;
  first_name: string;
  last_name: string;
  /** scrypt hash, or `django$…` for a Django hash until its first login; null for users who only sign in through a provider. */
  password: string | null;
  is_active: Flag;
  is_staff: Flag;
  is_superuser: Flag;
  last_login: Millis | null;
  date_joined: Millis;
  /** How the account came to be: 'local' (an operator, import-django), 'provider' (a first sign-in), 'scim'. */
  source: ColumnType<UserSource, UserSource | undefined, UserSource>;
  /** The provider's id of a SCIM user (SCIM externalId); unique when set. */
  external_id: ColumnType<string | null, string | null | undefined, string | null>;
  nick_name: ColumnType<string, string | undefined, string>;
  display_name: ColumnType<string, string | undefined, string>;
  /** When a SCIM DELETE removed the account; it stays, inactive, for the audit trail. */
  deleted: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
  /** Last change to what SCIM shows (meta.lastModified, version). */
  modified: ColumnType<Millis, Millis | undefined, Millis>;
  /** JSON array: the roles ROLE_RULES gave from the user's groups at their last change (src/accounts/roles.ts). */
  rule_roles: ColumnType<string, string | undefined, string>;
}

export type UserSource = 'local' | 'provider' | 'scim';

export interface SessionsTable {
  /** base64url SHA-256 of the cookie's secret; the secret itself is never stored. */
  id: string;
  user_id: number;
  created: Millis;
  expires: Millis;
  last_seen: Millis;
  /** Provider id for OIDC sessions, null for local logins. */
  provider: string | null;
  /** The provider's session id (`sid` claim), for back-channel logout. */
  provider_sid: string | null;
  user_agent: string;
  ip: string;
  /** JSON: provider tokens, kept on the server only: their times in the clear, the tokens sealed (sessions/tokens.ts). */
  data: ColumnType<string, string | undefined, string>;
  /** Until when one instance holds the right to refresh this session's tokens. */
  refresh_lock: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
  /** The session's anti-forgery token for its forms (base64url, 256 bits); null for sessions from before it had one. */
  csrf: ColumnType<string | null, string | null | undefined, string | null>;
  /** How the sign-in was made: RFC 8176 `amr` values, space-separated ('pwd', 'pwd otp mfa', a provider's); '' when unknown. */
  amr: ColumnType<string, string | undefined, string>;
  /** The provider's `acr` of the sign-in; null for local sign-ins and when the provider sent none. */
  acr: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface IdentitiesTable {
  id: Generated<number>;
  issuer: string;
  subject: string;
  user_id: number;
  created: Millis;
  last_login: Millis;
}

export interface LoginFailuresTable {
  /** Lower-cased username. */
  username: string;
  failures: number;
  window_start: Millis;
}

export interface OidcFlowsTable {
  /** base64url SHA-256 of the `state` value. */
  id: string;
  provider: string;
  /** base64url SHA-256 of the browser-binding cookie; stops login CSRF across browsers. */
  binding: string;
  code_verifier: string;
  nonce: string;
  next: string;
  prompt_none: Flag;
  /** The session (its id) that this silent prompt=none renewal confirms; null for a login. */
  renews_session: string | null;
  expires: Millis;
  /** base64url SHA-256 of the client's address (IPv6 by its /64): its pending logins are capped. */
  client: ColumnType<string, string | undefined, string>;
  /** A step-up sign-in: the `acr_values` it asked for (space-separated); null for an ordinary one. */
  acr_values: ColumnType<string | null, string | null | undefined, string | null>;
  /** The `max_age` it asked for, checked against the ID token's auth_time; null when none. */
  max_age: ColumnType<number | null, number | null | undefined, number | null>;
  /** With OIDC_DPOP: the sign-in's DPoP key, a private JWK, sealed (src/sealed.ts); it becomes the session's. */
  dpop_key: ColumnType<string | null, string | null | undefined, string | null>;
}

/** DPoP proofs our API accepted (rp/bearer/dpop-replay.ts), until they would be refused as too old. */
export interface DpopProofsTable {
  /** base64url SHA-256 of `${jkt}\n${jti}`. */
  id: string;
  expires: Millis;
}

/** Back-channel logout tokens already accepted (replay cache), until they would expire anyway. */
export interface LogoutTokensTable {
  /** base64url SHA-256 of `${iss}\n${jti}`. */
  id: string;
  /** Provider id. */
  provider: string;
  expires: Millis;
}

/** Access tokens a session got for other APIs by token exchange (sessions/exchanged-tokens.ts). */
export interface SessionTokensTable {
  session_id: string;
  /** base64url SHA-256 of `${audience}\n${scope}`. */
  audience_key: string;
  /** The token and its type, sealed (src/sealed.ts). */
  sealed: string;
  /** When the token expires. */
  expires: Millis;
}

/** One sign-in event (src/audit/). Never holds passwords or tokens. */
export interface AuditLogTable {
  id: Generated<number>;
  time: Millis;
  /** One of AUDIT_EVENT_TYPES (src/audit/index.ts): login_success, login_failure, logout, … */
  type: string;
  /** 'local', a provider id, or '' when no sign-in method applies. */
  method: ColumnType<string, string | undefined, string>;
  /** Stable error code (src/errors.ts) of a failure; null for a success. */
  error_code: string | null;
  user_id: number | null;
  /** The username attempted or the account's username; '' when unknown. */
  username: ColumnType<string, string | undefined, string>;
  /** For admin actions: the staff user who acted. */
  actor_id: number | null;
  action: ColumnType<string, string | undefined, string>;
  detail: ColumnType<string, string | undefined, string>;
  ip: ColumnType<string, string | undefined, string>;
  user_agent: ColumnType<string, string | undefined, string>;
  /** Events this row stands for: 1, or for a grouped row the anonymous failures of its minute. */
  count: ColumnType<number, number | undefined, number>;
  /** 1: repeated anonymous failures of one minute, address, type, method and code, counted in one row. */
  grouped: ColumnType<Flag, Flag | undefined, Flag>;
}

/** Group names (Django's auth_group, brought by import-django); owned by accounts. */
export interface GroupsTable {
  id: Generated<number>;
  name: string;
  /** SCIM externalId of a pushed group. */
  external_id: ColumnType<string | null, string | null | undefined, string | null>;
  created: ColumnType<Millis, Millis | undefined, Millis>;
  modified: ColumnType<Millis, Millis | undefined, Millis>;
}

export interface UserGroupsTable {
  user_id: number;
  group_id: number;
}

/** Which Django user (auth_user.id) an imported account came from; owned by accounts. */
export interface DjangoUsersTable {
  django_id: number;
  user_id: number;
  imported: Millis;
}

/**
 * SQLite only (PostgreSQL announces with NOTIFY): one row per write that a cache depends on, in the
 * write's transaction; owned by src/db/change-log.ts.
 */
export interface ChangeLogTable {
  id: Generated<number>;
  time: Millis;
  /** The changes, encoded as in a NOTIFY payload (src/db/change-feed.ts). */
  changes: string;
}

/** pending: to be sent; sent; failed: given up; dropped: nothing to send any more, or over the per-address limit. */
export type OutboxState = 'pending' | 'sent' | 'failed' | 'dropped';

/** The outbox (src/mail/outbox.ts): each mail before and after it is sent, and password reset requests not resolved yet. */
export interface MailOutboxTable {
  id: Generated<number>;
  /** What the row stands for: a kind of mail, or a password reset request (src/mail/kinds.ts). */
  kind: string;
  /** The address as entered. */
  recipient: string;
  /** Its comparison key (src/accounts/email.ts). */
  recipient_key: string;
  user_id: number | null;
  /** JSON: the causing request's address and browser, for the audit log; never a secret. */
  data: ColumnType<string, string | undefined, string>;
  /** The random left part of the Message-ID: the same at every attempt. */
  message_id: string;
  created: Millis;
  state: ColumnType<OutboxState, OutboxState | undefined, OutboxState>;
  next_attempt: Millis;
  attempts: ColumnType<number, number | undefined, number>;
  /** The holder of the right to send it (a random value), while lease_until has not passed. */
  lease: ColumnType<string | null, string | null | undefined, string | null>;
  lease_until: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
  /** When it left `pending`. */
  done: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
  last_error: ColumnType<string, string | undefined, string>;
}

/** An authenticator app (TOTP, RFC 6238) of a user; owned by src/mfa/totp.ts. */
export interface MfaTotpTable {
  user_id: number;
  /** The base32 secret, sealed (src/sealed.ts) under MFA_ENCRYPTION_KEY or SESSION_SECRET. */
  secret: string;
  /** The time step of the last code accepted: a code of that step or an earlier one is refused. */
  last_step: number;
  created: Millis;
  last_used: Millis | null;
}

/** One recovery code; owned by src/mfa/recovery-codes.ts. */
export interface MfaRecoveryCodesTable {
  user_id: number;
  /** base64url SHA-256 of the code as normalised; the code itself is shown once and never stored. */
  code_hash: string;
  created: Millis;
  used: Millis | null;
}

/** A passkey (WebAuthn credential); owned by src/mfa/webauthn.ts. */
export interface MfaWebauthnTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  /** base64url, as the browser reports it. */
  credential_id: string;
  /** base64url of the COSE public key. */
  public_key: string;
  /** The signature counter last seen. */
  counter: number;
  /** Comma-separated transports the authenticator named ('internal', 'usb', …). */
  transports: ColumnType<string, string | undefined, string>;
  /** base64url of the WebAuthn user.id the credential was made for. */
  user_handle: string;
  backed_up: ColumnType<Flag, Flag | undefined, Flag>;
  created: Millis;
  last_used: Millis | null;
}

/** A sign-in waiting for its second factor; owned by src/mfa/pending.ts. */
export interface MfaPendingTable {
  /** base64url SHA-256 of the browser's cookie secret. */
  id: string;
  user_id: number;
  next: string;
  created: Millis;
  expires: Millis;
}

/** Passkey sign-in challenges already answered (replay cache); owned by src/mfa/webauthn.ts. */
export interface MfaUsedChallengesTable {
  /** base64url SHA-256 of the challenge. */
  id: string;
  expires: Millis;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  identities: IdentitiesTable;
  login_failures: LoginFailuresTable;
  oidc_flows: OidcFlowsTable;
  logout_tokens: LogoutTokensTable;
  audit_log: AuditLogTable;
  groups: GroupsTable;
  user_groups: UserGroupsTable;
  django_users: DjangoUsersTable;
  change_log: ChangeLogTable;
  mail_outbox: MailOutboxTable;
  mfa_totp: MfaTotpTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_webauthn: MfaWebauthnTable;
  mfa_pending: MfaPendingTable;
  mfa_used_challenges: MfaUsedChallengesTable;
  session_tokens: SessionTokensTable;
  dpop_proofs: DpopProofsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type Identity = Selectable<IdentitiesTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
export type OutboxRow = Selectable<MailOutboxTable>;
export type Group = Selectable<GroupsTable>;
