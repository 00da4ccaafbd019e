/**
 * A deliberately misbehaving OpenID Provider for negative protocol tests of the relying party.
 *
 * The well-behaved path is a strict, minimal OP for the authorization code flow with PKCE (S256):
 * discovery, authorization (no login UI: it redirects back at once), token (client_secret_basic or
 * client_secret_post, single-use codes, redirect_uri and PKCE checks), userinfo, JWKS and end_session.
 * Its paths copy Okta's default authorization server: the issuer is
 * `http://127.0.0.1:<port>/oauth2/default` and the endpoints are `${issuer}/v1/...`.
 *
 * A fault (settable at any time) changes exactly the one thing it names, so a test can show that the
 * RP refuses it. Several faults act on what the RP caches (discovery, JWKS): set them before the RP
 * first fetches that document, or use a fresh RP configuration.
 *
 * Listens on 127.0.0.1 with an ephemeral port only. All JWT/JWK work goes through jose.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export type Fault =
  | 'none'
  | 'wrong-iss'
  | 'wrong-aud'
  | 'missing-sub'
  | 'missing-iat'
  | 'wrong-nonce'
  | 'missing-nonce'
  | 'bad-signature'
  | 'alg-none'
  | 'hs256-with-public-key'
  | 'expired'
  | 'issued-in-future'
  | 'kid-absent-single-key'
  | 'kid-absent-multiple-keys'
  | 'unknown-kid-then-rotate'
  | 'userinfo-sub-mismatch'
  | 'discovery-issuer-mismatch'
  | 'token-500'
  | 'token-timeout'
  | 'token-garbage'
  | 'discovery-500'
  | 'discovery-garbage'
  | 'userinfo-500'
  | 'authorize-error';

/** Every fault, for table-driven tests. */
export const FAULTS: readonly Fault[] = Object.freeze([
  'none',
  'wrong-iss',
  'wrong-aud',
  'missing-sub',
  'missing-iat',
  'wrong-nonce',
  'missing-nonce',
  'bad-signature',
  'alg-none',
  'hs256-with-public-key',
  'expired',
  'issued-in-future',
  'kid-absent-single-key',
  'kid-absent-multiple-keys',
  'unknown-kid-then-rotate',
  'userinfo-sub-mismatch',
  'discovery-issuer-mismatch',
  'token-500',
  'token-timeout',
  'token-garbage',
  'discovery-500',
  'discovery-garbage',
  'userinfo-500',
  'authorize-error',
] satisfies Fault[]);

export interface FakeOpOptions {
  /** Default 'test-client'. */
  clientId?: string;
  /** Default 'test-secret'. */
  clientSecret?: string;
  /** The RP's callback. If omitted, any absolute http(s) redirect_uri is accepted. */
  redirectUri?: string;
  /**
   * Extra or overriding claims. They go into the ID token after the protocol claims (so they can
   * override iss, iat, azp…; a fault still applies last) and into userinfo, minus the JWT-only
   * claims (iss, aud, exp, iat, nbf, nonce, azp, auth_time, at_hash, jti).
   */
  claims?: Record<string, unknown>;
  /** Default 'fake-user-1'. */
  sub?: string;
  /** Advertised and enforced; default 'client_secret_basic'. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * Like LemonLDAP::NG 2.16: advertise and accept both client_secret_basic and client_secret_post,
   * but take Basic credentials without form-url-decoding them, so a client id that RFC 6749 §2.3.1
   * encoding changes (`my-app` goes as `my%2Dapp`) is refused with invalid_client under Basic.
   */
  basicWithoutUrlDecoding?: boolean;
  /** Default true. When false, end_session_endpoint is neither advertised nor served. */
  endSessionEndpoint?: boolean;
  /** Default false. When true, refresh tokens are issued (rotated on use) and grant_type=refresh_token works. */
  issueRefreshToken?: boolean;
  /** Default 3600. */
  accessTokenLifetimeSeconds?: number;
  /** RFC 9207: advertise authorization_response_iss_parameter_supported and add iss to every redirect. */
  supportsIssParameter?: boolean;
}

export interface FakeOpEndpoints {
  discovery: string;
  authorization: string;
  token: string;
  userinfo: string;
  jwks: string;
  /** Served even when endSessionEndpoint is false (then it answers 404). */
  endSession: string;
}

export interface FakeOp {
  /** http://127.0.0.1:<port>/oauth2/default (no trailing slash). */
  issuer: string;
  /** Full URLs of every endpoint. */
  readonly endpoints: FakeOpEndpoints;
  fault: Fault;
  setFault(f: Fault): void;
  /** Generate a new signing key with a new kid. The JWKS then serves the new key and the previous one. */
  rotateKeys(): Promise<void>;
  /** kid of the current signing key. */
  readonly currentKid: string;
  /**
   * Every request received, in order; path is the URL path without the query, connection numbers
   * the TCP connection it came on (1 for the first one accepted), to tell reused ones apart.
   */
  requests: Array<{ method: string; path: string; connection: number }>;
  lastAuthorizationRequest?: URLSearchParams;
  lastEndSessionRequest?: URLSearchParams;
  /**
   * GETs the RP-built authorization URL (it must point at this OP) without following redirects and
   * returns the Location: the callback URL with code & state, or with error. Throws if the OP does not
   * redirect (invalid client_id or redirect_uri are shown as a 400 page, as RFC 6749 requires).
   */
  authorize(url: string): Promise<URL>;
  close(): Promise<void>;
}

const ISSUER_PATH = '/oauth2/default';
const ID_TOKEN_LIFETIME = 300;
const CODE_LIFETIME = 60;
/** Claims that belong in a JWT, not in a userinfo response. */
const JWT_ONLY_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'azp', 'auth_time', 'at_hash', 'jti']);
const MAX_BODY_BYTES = 64 * 1024;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

interface CodeGrant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce: string;
  scope: string;
  sub: string;
  authTime: number;
  expiresAt: number;
  used: boolean;
  /** Access and refresh tokens issued from this code, revoked if the code is replayed. */
  issued: string[];
}

interface AccessTokenGrant {
  sub: string;
  clientId: string;
  scope: string;
  expiresAt: number;
}

interface RefreshTokenGrant {
  sub: string;
  clientId: string;
  scope: string;
  authTime: number;
}

/** An OAuth error answered as JSON by the token/userinfo endpoints. */
class OAuthError extends Error {
  readonly status: number;
  readonly error: string;
  readonly wwwAuthenticate: string | undefined;
  constructor(status: number, error: string, description: string, wwwAuthenticate?: string) {
    super(description);
    this.status = status;
    this.error = error;
    this.wwwAuthenticate = wwwAuthenticate;
  }
}

function epoch(): number {
  return Math.floor(Date.now() / 1000);
}

function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomToken(12);
  const publicJwk: JWK = { ...(await jose.exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk };
}

/** One value of a parameter; repeating a parameter is an invalid_request (RFC 6749 3.1, 3.2). */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new OAuthError(400, 'invalid_request', `parameter ${name} repeated`);
  return values[0];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new OAuthError(413, 'invalid_request', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

function redirect(res: ServerResponse, location: URL): void {
  send(res, 302, '', { location: location.href });
}

/** Decode client_secret_basic credentials (form-url-encoded id and secret, RFC 6749 2.3.1). */
function parseBasic(header: string, urlDecode: boolean): { id: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  if (!urlDecode) return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  // form-url-decode: URLSearchParams does exactly application/x-www-form-urlencoded decoding.
  const id = new URLSearchParams(`v=${decoded.slice(0, colon)}`).get('v');
  const secret = new URLSearchParams(`v=${decoded.slice(colon + 1)}`).get('v');
  if (id === null || secret === null) return undefined;
  return { id, secret };
}

class FakeOpServer implements FakeOp {
  issuer = '';
  endpoints: FakeOpEndpoints = { discovery: '', authorization: '', token: '', userinfo: '', jwks: '', endSession: '' };
  fault: Fault = 'none';
  requests: Array<{ method: string; path: string; connection: number }> = [];
  lastAuthorizationRequest: URLSearchParams | undefined = undefined;
  lastEndSessionRequest: URLSearchParams | undefined = undefined;

  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #redirectUri: string | undefined;
  readonly #claims: Record<string, unknown>;
  readonly #sub: string;
  readonly #authMethod: 'client_secret_basic' | 'client_secret_post';
  readonly #endSession: boolean;
  readonly #basicWithoutUrlDecoding: boolean;
  readonly #issueRefreshToken: boolean;
  readonly #accessTokenLifetime: number;
  readonly #issParameter: boolean;

  #server: Server;
  #current: SigningKey;
  #previous: SigningKey | undefined;
  #decoys: Promise<SigningKey[]> | undefined;
  #codes = new Map<string, CodeGrant>();
  #accessTokens = new Map<string, AccessTokenGrant>();
  #refreshTokens = new Map<string, RefreshTokenGrant>();
  #closed: Promise<void> | undefined;
  readonly #connections = new WeakMap<object, number>();

  constructor(options: FakeOpOptions, key: SigningKey) {
    this.#clientId = options.clientId ?? 'test-client';
    this.#clientSecret = options.clientSecret ?? 'test-secret';
    this.#redirectUri = options.redirectUri;
    this.#claims = { ...options.claims };
    this.#sub = options.sub ?? 'fake-user-1';
    this.#authMethod = options.tokenEndpointAuthMethod ?? 'client_secret_basic';
    this.#endSession = options.endSessionEndpoint ?? true;
    this.#basicWithoutUrlDecoding = options.basicWithoutUrlDecoding ?? false;
    this.#issueRefreshToken = options.issueRefreshToken ?? false;
    this.#accessTokenLifetime = options.accessTokenLifetimeSeconds ?? 3600;
    this.#issParameter = options.supportsIssParameter ?? false;
    this.#current = key;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        // A bug in the fake itself, not a fault: make it loud.
        if (!res.headersSent) sendJson(res, 500, { error: 'fake_op_bug', error_description: String(err) });
        else res.destroy();
      });
    });
    let accepted = 0;
    this.#server.on('connection', (socket) => this.#connections.set(socket, ++accepted));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('fake OP: unexpected server address');
    this.issuer = `http://127.0.0.1:${address.port}${ISSUER_PATH}`;
    this.endpoints = {
      discovery: `${this.issuer}/.well-known/openid-configuration`,
      authorization: `${this.issuer}/v1/authorize`,
      token: `${this.issuer}/v1/token`,
      userinfo: `${this.issuer}/v1/userinfo`,
      jwks: `${this.issuer}/v1/keys`,
      endSession: `${this.issuer}/v1/logout`,
    };
  }

  get currentKid(): string {
    return this.#current.kid;
  }

  setFault(f: Fault): void {
    if (!FAULTS.includes(f)) throw new TypeError(`fake OP: unknown fault ${String(f)}`);
    this.fault = f;
  }

  async rotateKeys(): Promise<void> {
    const next = await generateSigningKey();
    this.#previous = this.#current;
    this.#current = next;
  }

  async authorize(url: string): Promise<URL> {
    const target = new URL(url);
    if (target.origin !== new URL(this.issuer).origin) {
      throw new Error(`fake OP: authorize() only fetches this OP (${this.issuer}), not ${target.origin}`);
    }
    const response = await fetch(target, { redirect: 'manual' });
    const body = await response.text();
    const location = response.headers.get('location');
    if (response.status !== 302 || location === null) {
      throw new Error(`fake OP: authorization endpoint answered ${response.status} without a redirect: ${body}`);
    }
    return new URL(location);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve, reject) => {
      this.#server.close((err) => (err ? reject(err) : resolve()));
      // Also ends keep-alive sockets and the requests held open by 'token-timeout'.
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Routing

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.issuer);
    this.requests.push({ method, path: url.pathname, connection: this.#connections.get(req.socket) ?? 0 });
    const route = url.pathname.startsWith(ISSUER_PATH) ? url.pathname.slice(ISSUER_PATH.length) : undefined;
    try {
      switch (route) {
        case '/.well-known/openid-configuration':
          return method === 'GET' ? this.#discovery(res) : this.#notAllowed(res, 'GET');
        case '/v1/authorize':
          if (method === 'GET') return this.#authorization(url.searchParams, res);
          if (method === 'POST') return this.#authorization(await this.#form(req), res);
          return this.#notAllowed(res, 'GET, POST');
        case '/v1/token':
          return method === 'POST' ? await this.#token(req, res) : this.#notAllowed(res, 'POST');
        case '/v1/userinfo':
          if (method === 'GET' || method === 'POST') return await this.#userinfo(req, res, method);
          return this.#notAllowed(res, 'GET, POST');
        case '/v1/keys':
          return method === 'GET' ? await this.#jwks(res) : this.#notAllowed(res, 'GET');
        case '/v1/logout':
          if (!this.#endSession) break;
          if (method === 'GET') return this.#logout(url.searchParams, res);
          if (method === 'POST') return this.#logout(await this.#form(req), res);
          return this.#notAllowed(res, 'GET, POST');
      }
      sendJson(res, 404, { error: 'not_found', error_description: `no route for ${method} ${url.pathname}` });
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      const headers: Record<string, string> = err.wwwAuthenticate ? { 'www-authenticate': err.wwwAuthenticate } : {};
      sendJson(res, err.status, { error: err.error, error_description: err.message }, headers);
    }
  }

  #notAllowed(res: ServerResponse, allow: string): void {
    sendJson(res, 405, { error: 'invalid_request', error_description: 'method not allowed' }, { allow });
  }

  async #form(req: IncomingMessage): Promise<URLSearchParams> {
    return new URLSearchParams(await readBody(req));
  }

  // ---------------------------------------------------------------------------------------------
  // Discovery

  #discovery(res: ServerResponse): void {
    if (this.fault === 'discovery-500') {
      return send(res, 500, '<html><body><h1>500 Internal Server Error</h1></body></html>', {
        'content-type': 'text/html; charset=utf-8',
      });
    }
    if (this.fault === 'discovery-garbage') {
      return send(res, 200, '{"issuer": "' + this.issuer + '", <html>oops', { 'content-type': 'application/json' });
    }
    const algs = ['RS256'];
    if (this.fault === 'alg-none') algs.push('none');
    if (this.fault === 'hs256-with-public-key') algs.push('HS256');
    const metadata: Record<string, unknown> = {
      issuer: this.fault === 'discovery-issuer-mismatch' ? `${new URL(this.issuer).origin}/oauth2/not-default` : this.issuer,
      authorization_endpoint: this.endpoints.authorization,
      token_endpoint: this.endpoints.token,
      userinfo_endpoint: this.endpoints.userinfo,
      jwks_uri: this.endpoints.jwks,
      ...(this.#endSession && { end_session_endpoint: this.endpoints.endSession }),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: this.#issueRefreshToken ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: algs,
      scopes_supported: ['openid', 'email', 'profile', ...(this.#issueRefreshToken ? ['offline_access'] : [])],
      token_endpoint_auth_methods_supported: this.#basicWithoutUrlDecoding ? ['client_secret_basic', 'client_secret_post'] : [this.#authMethod],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', ...Object.keys(this.#claims)],
      code_challenge_methods_supported: ['S256'],
      request_parameter_supported: false,
      ...(this.#issParameter && { authorization_response_iss_parameter_supported: true }),
    };
    sendJson(res, 200, metadata, { 'cache-control': 'max-age=0' });
  }

  // ---------------------------------------------------------------------------------------------
  // Authorization endpoint

  #authorization(params: URLSearchParams, res: ServerResponse): void {
    this.lastAuthorizationRequest = new URLSearchParams(params);
    let clientId: string | undefined;
    let redirectUri: string | undefined;
    let state: string | undefined;
    try {
      clientId = single(params, 'client_id');
      redirectUri = single(params, 'redirect_uri');
      state = single(params, 'state');
    } catch (err) {
      if (err instanceof OAuthError) return this.#badRequestPage(res, err.message);
      throw err;
    }
    // Per RFC 6749 4.1.2.1 an unknown client or a bad redirect_uri is shown, never redirected to.
    if (clientId !== this.#clientId) return this.#badRequestPage(res, `unknown client_id ${String(clientId)}`);
    if (redirectUri === undefined) return this.#badRequestPage(res, 'redirect_uri is required');
    let callback: URL;
    try {
      callback = new URL(redirectUri);
    } catch {
      return this.#badRequestPage(res, 'redirect_uri is not an absolute URL');
    }
    if (this.#redirectUri !== undefined ? redirectUri !== this.#redirectUri : !/^https?:$/.test(callback.protocol) || callback.hash !== '') {
      return this.#badRequestPage(res, `redirect_uri ${redirectUri} is not registered`);
    }

    const back = (query: Record<string, string>): void => {
      const location = new URL(callback);
      for (const [k, v] of Object.entries(query)) location.searchParams.set(k, v);
      if (state !== undefined) location.searchParams.set('state', state);
      if (this.#issParameter) location.searchParams.set('iss', this.issuer);
      redirect(res, location);
    };
    const fail = (error: string, description: string): void => back({ error, error_description: description });

    if (this.fault === 'authorize-error') return fail('access_denied', 'The resource owner or authorization server denied the request.');

    let responseType: string | undefined;
    let scope: string | undefined;
    let nonce: string | undefined;
    let codeChallenge: string | undefined;
    let codeChallengeMethod: string | undefined;
    try {
      responseType = single(params, 'response_type');
      scope = single(params, 'scope');
      nonce = single(params, 'nonce');
      codeChallenge = single(params, 'code_challenge');
      codeChallengeMethod = single(params, 'code_challenge_method');
    } catch (err) {
      if (err instanceof OAuthError) return fail('invalid_request', err.message);
      throw err;
    }
    if (responseType !== 'code') return fail('unsupported_response_type', 'only response_type=code is supported');
    if (!scope?.split(' ').includes('openid')) return fail('invalid_scope', 'scope must include openid');
    if (!state) return fail('invalid_request', 'state is required');
    if (!nonce) return fail('invalid_request', 'nonce is required');
    if (!codeChallenge) return fail('invalid_request', 'code_challenge is required');
    if (codeChallengeMethod !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) return fail('invalid_request', 'code_challenge is not a base64url SHA-256 value');

    const code = randomToken();
    this.#codes.set(code, {
      clientId,
      redirectUri,
      codeChallenge,
      nonce,
      scope,
      sub: this.#sub,
      authTime: epoch(),
      expiresAt: epoch() + CODE_LIFETIME,
      used: false,
      issued: [],
    });
    back({ code });
  }

  #badRequestPage(res: ServerResponse, message: string): void {
    send(res, 400, `<html><body><h1>400 Bad Request</h1><p>${message.replace(/[<>&"']/g, '')}</p></body></html>`, {
      'content-type': 'text/html; charset=utf-8',
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Token endpoint

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await this.#form(req);
    if (this.fault === 'token-500') {
      return send(res, 500, '<html><body><h1>500 Internal Server Error</h1></body></html>', {
        'content-type': 'text/html; charset=utf-8',
      });
    }
    if (this.fault === 'token-timeout') return; // never answered; close() ends the socket
    if (this.fault === 'token-garbage') {
      return send(res, 200, '{"access_token": "x", "token_type": <html>', { 'content-type': 'application/json' });
    }

    const clientId = this.#authenticateClient(req, params);
    const grantType = single(params, 'grant_type');
    if (grantType === 'authorization_code') return this.#codeGrant(params, clientId, res);
    if (grantType === 'refresh_token' && this.#issueRefreshToken) return this.#refreshGrant(params, clientId, res);
    throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${String(grantType)} is not supported`);
  }

  #authenticateClient(req: IncomingMessage, params: URLSearchParams): string {
    const header = req.headers.authorization;
    const bodySecret = single(params, 'client_secret');
    const bodyId = single(params, 'client_id');
    if (header !== undefined && bodySecret !== undefined) {
      throw new OAuthError(400, 'invalid_request', 'more than one client authentication method used');
    }
    if (this.#basicWithoutUrlDecoding ? header !== undefined : this.#authMethod === 'client_secret_basic') {
      const challenge = 'Basic realm="fake-op"';
      if (header === undefined) {
        throw new OAuthError(401, 'invalid_client', 'client authentication with client_secret_basic is required', challenge);
      }
      const credentials = parseBasic(header, !this.#basicWithoutUrlDecoding);
      if (!credentials || credentials.id !== this.#clientId || credentials.secret !== this.#clientSecret) {
        throw new OAuthError(401, 'invalid_client', 'client authentication failed', challenge);
      }
      if (bodyId !== undefined && bodyId !== credentials.id) {
        throw new OAuthError(400, 'invalid_request', 'client_id does not match the authenticated client');
      }
      return credentials.id;
    }
    if (header !== undefined) {
      throw new OAuthError(401, 'invalid_client', 'client authentication with client_secret_post is required');
    }
    if (bodyId !== this.#clientId || bodySecret !== this.#clientSecret) {
      throw new OAuthError(401, 'invalid_client', 'client authentication failed');
    }
    return bodyId;
  }

  async #codeGrant(params: URLSearchParams, clientId: string, res: ServerResponse): Promise<void> {
    const code = single(params, 'code');
    const grant = code === undefined ? undefined : this.#codes.get(code);
    if (!grant) throw new OAuthError(400, 'invalid_grant', 'unknown authorization code');
    if (grant.used) {
      // RFC 6749 4.1.2: a replayed code is refused, and the tokens issued from it are revoked.
      for (const token of grant.issued) {
        this.#accessTokens.delete(token);
        this.#refreshTokens.delete(token);
      }
      throw new OAuthError(400, 'invalid_grant', 'authorization code already used');
    }
    grant.used = true; // any redemption attempt consumes the code
    if (grant.expiresAt < epoch()) throw new OAuthError(400, 'invalid_grant', 'authorization code expired');
    if (grant.clientId !== clientId) throw new OAuthError(400, 'invalid_grant', 'authorization code was issued to another client');
    if (single(params, 'redirect_uri') !== grant.redirectUri) {
      throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    }
    const verifier = single(params, 'code_verifier');
    if (verifier === undefined || !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) {
      throw new OAuthError(400, 'invalid_grant', 'code_verifier missing or malformed');
    }
    if (createHash('sha256').update(verifier, 'ascii').digest('base64url') !== grant.codeChallenge) {
      throw new OAuthError(400, 'invalid_grant', 'PKCE verification failed');
    }
    const body = await this.#issueTokens({ sub: grant.sub, clientId, scope: grant.scope, authTime: grant.authTime, nonce: grant.nonce });
    grant.issued.push(String(body.access_token));
    if (typeof body.refresh_token === 'string') grant.issued.push(body.refresh_token);
    sendJson(res, 200, body, { pragma: 'no-cache' });
  }

  async #refreshGrant(params: URLSearchParams, clientId: string, res: ServerResponse): Promise<void> {
    const token = single(params, 'refresh_token');
    const grant = token === undefined ? undefined : this.#refreshTokens.get(token);
    if (token === undefined || !grant || grant.clientId !== clientId) {
      throw new OAuthError(400, 'invalid_grant', 'unknown refresh token');
    }
    this.#refreshTokens.delete(token); // rotated: each refresh token works once
    const body = await this.#issueTokens({ sub: grant.sub, clientId, scope: grant.scope, authTime: grant.authTime, nonce: undefined });
    sendJson(res, 200, body, { pragma: 'no-cache' });
  }

  async #issueTokens(grant: {
    sub: string;
    clientId: string;
    scope: string;
    authTime: number;
    nonce: string | undefined;
  }): Promise<Record<string, unknown>> {
    const accessToken = randomToken();
    this.#accessTokens.set(accessToken, {
      sub: grant.sub,
      clientId: grant.clientId,
      scope: grant.scope,
      expiresAt: epoch() + this.#accessTokenLifetime,
    });
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.#accessTokenLifetime,
      scope: grant.scope,
      id_token: await this.#idToken(grant),
    };
    if (this.#issueRefreshToken) {
      const refreshToken = randomToken();
      this.#refreshTokens.set(refreshToken, { sub: grant.sub, clientId: grant.clientId, scope: grant.scope, authTime: grant.authTime });
      body.refresh_token = refreshToken;
    }
    return body;
  }

  async #idToken(grant: { sub: string; clientId: string; authTime: number; nonce: string | undefined }): Promise<string> {
    const now = epoch();
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      sub: grant.sub,
      aud: grant.clientId,
      exp: now + ID_TOKEN_LIFETIME,
      iat: now,
      auth_time: grant.authTime,
      ...(grant.nonce !== undefined && { nonce: grant.nonce }),
      ...this.#claims,
    };
    switch (this.fault) {
      case 'wrong-iss':
        claims.iss = 'https://attacker.example/oauth2/default';
        break;
      case 'wrong-aud':
        claims.aud = 'some-other-client';
        break;
      case 'missing-sub':
        delete claims.sub;
        break;
      case 'missing-iat':
        delete claims.iat;
        break;
      case 'wrong-nonce':
        claims.nonce = randomToken(16);
        break;
      case 'missing-nonce':
        delete claims.nonce;
        break;
      case 'expired':
        // A token issued 10 minutes ago with the usual 5-minute lifetime: exp is 300 s in the past.
        claims.iat = now - 600;
        claims.exp = now - 600 + ID_TOKEN_LIFETIME;
        break;
      case 'issued-in-future':
        claims.iat = now + 3600;
        claims.nbf = now + 3600;
        claims.exp = now + 3600 + ID_TOKEN_LIFETIME;
        break;
    }
    const payload = claims as JWTPayload;

    switch (this.fault) {
      case 'alg-none':
        return new jose.UnsecuredJWT(payload).encode();
      case 'hs256-with-public-key': {
        // Key-confusion attack: the RSA public key's PEM (SPKI) bytes used as an HMAC secret.
        const secret = new TextEncoder().encode(await jose.exportSPKI(this.#current.publicKey));
        return new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: this.#current.kid }).sign(secret);
      }
      case 'kid-absent-single-key':
      case 'kid-absent-multiple-keys':
        return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256' }).sign(this.#current.privateKey);
      case 'unknown-kid-then-rotate':
        // Signed with a brand-new key, so its kid is in no JWKS the RP fetched before.
        await this.rotateKeys();
        break;
      case 'bad-signature': {
        const jwt = await new jose.SignJWT(payload)
          .setProtectedHeader({ alg: 'RS256', kid: this.#current.kid })
          .sign(this.#current.privateKey);
        const [header, body, signature] = jwt.split('.');
        const bytes = jose.base64url.decode(signature ?? '');
        for (let i = 0; i < bytes.length; i += 16) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
        return `${header}.${body}.${jose.base64url.encode(bytes)}`;
      }
    }
    return new jose.SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: this.#current.kid })
      .sign(this.#current.privateKey);
  }

  // ---------------------------------------------------------------------------------------------
  // Userinfo

  async #userinfo(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    const form = method === 'POST' ? await this.#form(req) : new URLSearchParams();
    if (this.fault === 'userinfo-500') {
      return send(res, 500, '<html><body><h1>500 Internal Server Error</h1></body></html>', {
        'content-type': 'text/html; charset=utf-8',
      });
    }
    const header = req.headers.authorization;
    const bodyToken = single(form, 'access_token');
    if (header !== undefined && bodyToken !== undefined) {
      throw new OAuthError(400, 'invalid_request', 'more than one method used to send the access token',
        'Bearer realm="fake-op", error="invalid_request"');
    }
    let token = bodyToken;
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header.trim());
      if (!match) {
        throw new OAuthError(401, 'invalid_token', 'malformed Authorization header', 'Bearer realm="fake-op", error="invalid_token"');
      }
      token = match[1];
    }
    if (token === undefined) {
      throw new OAuthError(401, 'invalid_token', 'access token required', 'Bearer realm="fake-op"');
    }
    const grant = this.#accessTokens.get(token);
    if (!grant || grant.expiresAt <= epoch()) {
      throw new OAuthError(401, 'invalid_token', 'access token unknown, revoked or expired',
        'Bearer realm="fake-op", error="invalid_token"');
    }
    const claims: Record<string, unknown> = { sub: grant.sub };
    for (const [name, value] of Object.entries(this.#claims)) {
      if (!JWT_ONLY_CLAIMS.has(name)) claims[name] = value;
    }
    if (this.fault === 'userinfo-sub-mismatch') claims.sub = `${String(claims.sub)}-someone-else`;
    sendJson(res, 200, claims);
  }

  // ---------------------------------------------------------------------------------------------
  // JWKS

  async #jwks(res: ServerResponse): Promise<void> {
    let keys: SigningKey[];
    switch (this.fault) {
      case 'kid-absent-single-key':
        keys = [this.#current];
        break;
      case 'kid-absent-multiple-keys':
        this.#decoys ??= Promise.all([generateSigningKey(), generateSigningKey()]);
        keys = [this.#current, ...(await this.#decoys)];
        break;
      default:
        keys = this.#previous ? [this.#current, this.#previous] : [this.#current];
    }
    sendJson(res, 200, { keys: keys.map((k) => k.publicJwk) }, {
      'content-type': 'application/jwk-set+json',
      'cache-control': 'max-age=0',
    });
  }

  // ---------------------------------------------------------------------------------------------
  // End session (RP-Initiated Logout 1.0)

  #logout(params: URLSearchParams, res: ServerResponse): void {
    this.lastEndSessionRequest = new URLSearchParams(params);
    let target: string | undefined;
    let state: string | undefined;
    try {
      target = single(params, 'post_logout_redirect_uri');
      state = single(params, 'state');
    } catch (err) {
      if (err instanceof OAuthError) return this.#badRequestPage(res, err.message);
      throw err;
    }
    if (target === undefined) {
      return send(res, 200, '<html><body><p>You have been signed out.</p></body></html>', {
        'content-type': 'text/html; charset=utf-8',
      });
    }
    let location: URL;
    try {
      location = new URL(target);
    } catch {
      return this.#badRequestPage(res, 'post_logout_redirect_uri is not an absolute URL');
    }
    if (state !== undefined) location.searchParams.set('state', state);
    redirect(res, location);
  }
}

export async function startFakeOp(options: FakeOpOptions = {}): Promise<FakeOp> {
  const op = new FakeOpServer(options, await generateSigningKey());
  await op.listen();
  return op;
}
