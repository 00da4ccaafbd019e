// Public API: explicit named exports only, so every export is a decision.
import './node-version.ts'; // first: on a Node older than "engines", one line instead of a link error
export { ConfigError, ERROR_CODES, OidcConnectError, isOidcConnectError, type ErrorCode } from './errors.ts';
export { loadConfig, type Config, type DatabaseConfig, type LoadOptions, type ProviderConfig, type UsernameAlgo } from './config/index.ts';
export { migrate, openDatabase, type DatabaseHandle, type Db } from './db/index.ts';
export type { Database, Identity, SessionRow, User } from './db/schema.ts';
export { createUser, findUserById, findUserByUsername, setPassword, type NewAccount } from './accounts/users.ts';
export { hashPassword, verifyPassword } from './accounts/passwords.ts';
export { validatePassword, type PasswordOwner } from './accounts/password-validation.ts';
export { createSession, deleteSession, deleteUserSessions, loadSession, type ActiveSession, type StoredTokens } from './sessions/index.ts';
export { createRelyingParty, ReauthenticationRequired, type RelyingParty } from './rp/index.ts';
export type { ProviderTokens } from './rp/session-tokens.ts';
export type { AccessToken, AccessTokenOptions } from './rp/access-token.ts';
export { BearerAuthenticator, BearerError, parseAuthorization, scopesOf, type BearerAuthentication, type BearerToken } from './rp/bearer/index.ts';
export type { BearerGuardOptions } from './web/bearer-guard.ts';
export { provisionUser, type ProviderClaims } from './provisioning/index.ts';
export { AUDIT_EVENT_TYPES, pruneAuditLog, recordEvent, type AuditEvent, type AuditEventType } from './audit/index.ts';
export { oidcConnect, type OidcConnectOptions } from './web/plugin.ts';
export { securityHeaders } from './web/protection/security-headers.ts';
export { buildApp } from './web/app.ts';
export { startServer, type RunningServer } from './server.ts';
export { DEMO_USERS, DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp, type DevIdpOptions } from './dev-idp/index.ts';
