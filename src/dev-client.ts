// The app's client at the embedded development provider. A leaf that imports nothing, so config/
// (which defaults to it) and dev-idp/ (which registers it) share it without importing each other.

export const DEV_CLIENT_ID = 'oidc-connect-dev';
/** Fixed on purpose: development only, served on loopback only, refused in production. */
export const DEV_CLIENT_SECRET = 'oidc-connect-dev-secret';
