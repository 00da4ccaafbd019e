// The embedded development OpenID provider ("Okta" on localhost). Explicit named exports only.
import '../node-version.ts'; // first: on a Node older than "engines", one line instead of a link error
export { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../dev-client.ts';
export { PRODUCTION_REFUSAL, startDevIdp } from './start.ts';
export type { DevIdp, DevIdpOptions } from './start.ts';
export { DEMO_USERS, deriveSub, loadUsersFile } from './demo-users.ts';
export type { DemoUser } from './demo-users.ts';
export { API_AUDIENCE } from './clients.ts';
