// oidc-provider 9 ships no type declarations (and @types/oidc-provider describes older majors), so
// this file declares only the surface the development provider uses. Keep it narrow: anything not
// listed here is not relied upon.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type Configuration = Record<string, unknown>;

  export interface ResourceServer {
    readonly scopes: ReadonlySet<string>;
  }

  export interface Client {
    readonly clientId: string;
  }

  export interface Session {
    readonly accountId?: string;
    readonly state?: { secret?: string; [key: string]: unknown };
    grantIdFor(clientId: string): string | undefined;
  }

  export interface Grant {
    readonly jti?: string;
    readonly accountId?: string;
    readonly clientId?: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(indicator: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  }

  export interface OIDCContext {
    readonly provider: Provider;
    readonly client?: Client;
    readonly session?: Session;
    readonly params: Record<string, unknown>;
    readonly entities: Record<string, unknown>;
    readonly result?: { consent?: { grantId?: string } };
    readonly requestParamScopes: Set<string>;
    readonly requestParamOIDCScopes: Set<string>;
    readonly requestParamClaims: Set<string>;
    readonly resourceServers: Record<string, ResourceServer>;
    /** The provider session's `acr`, when its sign-in set one. */
    readonly acr?: string;
    urlFor(name: string): string;
  }

  /** The parts of the Koa context that the configuration callbacks touch. */
  export interface KoaContextWithOIDC {
    readonly oidc: OIDCContext;
    readonly host: string;
    status: number;
    type: string;
    body: unknown;
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string): Promise<Record<string, unknown>> | Record<string, unknown>;
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly prompt: {
      readonly name: string;
      readonly reasons: string[];
      readonly details: Record<string, unknown>;
    };
    readonly params: Record<string, unknown>;
    readonly session?: { accountId?: string };
    readonly grantId?: string;
  }

  export type InteractionResults = Record<string, unknown>;

  /** What a resource server's tokens are like (features.resourceIndicators.getResourceServerInfo's answer). */
  export interface ResourceServerInfo {
    scope: string;
    audience?: string;
    accessTokenTTL?: number;
    accessTokenFormat?: 'opaque' | 'jwt';
    jwt?: { sign?: { alg: string } };
  }

  export interface AccessToken {
    resourceServer?: unknown;
    readonly scope?: string;
    readonly expiration: number;
    readonly tokenType: string;
    setThumbprint(kind: 'jkt', thumbprint: string): void;
    save(): Promise<string>;
  }

  export interface AccessTokenConstructor {
    new (properties: { accountId: string; client: Client; scope?: string; gty?: string }): AccessToken;
  }

  /** The context a custom grant's handler gets (registerGrantType). */
  export interface GrantContext {
    readonly oidc: { readonly params: Record<string, string | undefined>; readonly client: Client };
    readonly method: string;
    get(header: string): string;
    body: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    proxy: boolean;
    readonly Grant: GrantConstructor;
    readonly AccessToken: AccessTokenConstructor;
    readonly ResourceServer: new (identifier: string, info: ResourceServerInfo) => unknown;
    registerGrantType(name: string, handler: (ctx: GrantContext) => Promise<void>, parameters?: string[], allowedDuplicateParameters?: string[]): void;
    urlFor(name: string): string;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export class OIDCProviderError extends Error {
    readonly status: number;
    readonly error: string;
    readonly error_description?: string;
  }

  /** The interaction policy: its prompts, each with the checks that make it show. */
  export namespace interactionPolicy {
    class Check {
      static readonly REQUEST_PROMPT: boolean;
      static readonly NO_NEED_TO_PROMPT: boolean;
      constructor(reason: string, description: string, error: string, check: (ctx: KoaContextWithOIDC) => boolean | Promise<boolean>);
    }
    interface Prompt {
      readonly name: string;
      readonly checks: { add(check: Check): void };
    }
    interface Policy extends Array<Prompt> {
      get(name: string): Prompt;
    }
    function base(): Policy;
  }

  export const errors: {
    readonly OIDCProviderError: typeof OIDCProviderError;
    readonly InvalidRequest: new (description?: string) => OIDCProviderError;
    readonly InvalidGrant: new (description?: string) => OIDCProviderError;
    readonly InvalidScope: new (description?: string, scope?: string) => OIDCProviderError;
    readonly InvalidTarget: new (description?: string) => OIDCProviderError;
    readonly InvalidDpopProof: new (description?: string) => OIDCProviderError;
    readonly SessionNotFound: new (description?: string) => OIDCProviderError;
  };

  export default Provider;
}
