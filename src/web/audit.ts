import type { FastifyReply, FastifyRequest } from 'fastify';
import { countAnonymousFailure, recordEvent, type AnonymousFailure, type AuditEvent } from '../audit/index.ts';
import type { ErrorCode } from '../errors.ts';
import { flowProvider } from '../rp/flows.ts';
import type { AppContext } from './context.ts';
import { toOidcConnectError } from './pages/error-pages.ts';
import { clientAddress } from './protection/rate-limits.ts';

/**
 * Records an audit event for this request (its IP and user agent added) and never fails the
 * request: a database error is logged and the request goes on as if nothing happened.
 */
export async function audit(ctx: AppContext, request: FastifyRequest, event: AuditEvent): Promise<void> {
  ctx.metrics?.signIn(event);
  try {
    await recordEvent(ctx.db, requestEvent(request, event));
  } catch (error) {
    request.log.error({ err: error, type: event.type }, 'writing the audit log failed');
  }
}

/** An audit event of this request: its IP and user agent added. */
export function requestEvent(request: FastifyRequest, event: AuditEvent): AuditEvent {
  return { ip: request.ip, userAgent: request.headers['user-agent'] ?? '', ...event };
}

/**
 * Counts a failure that names no account and no login in progress (see countAnonymousFailure),
 * by the client's address (an IPv6 /64 as one); never fails the request either.
 */
export async function auditAnonymous(ctx: AppContext, request: FastifyRequest, failure: Pick<AnonymousFailure, 'type' | 'method' | 'errorCode'>): Promise<void> {
  ctx.metrics?.signIn(failure);
  try {
    await countAnonymousFailure(ctx.db, { ip: clientAddress(request), userAgent: request.headers['user-agent'] ?? '', ...failure });
  } catch (error) {
    request.log.error({ err: error, type: failure.type }, 'writing the audit log failed');
  }
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Wraps a provider sign-in route so that any failure it throws is recorded as a `login_failure`
 * with the error's stable code, then rethrown unchanged: the route answers exactly as before.
 * `methodOf` runs first, because the flow that names the provider is consumed by the handler.
 * Failures for which `anonymous(code)` holds name no login in progress and are only counted.
 */
export function auditedSignIn(ctx: AppContext, methodOf: (request: FastifyRequest) => Promise<string>, handler: Handler,
  anonymous: (code: ErrorCode) => boolean = () => false): Handler {
  return async (request, reply) => {
    const method = await methodOf(request);
    try {
      return await handler(request, reply);
    } catch (error) {
      const errorCode = toOidcConnectError(error).code;
      if (anonymous(errorCode)) await auditAnonymous(ctx, request, { type: 'login_failure', method, errorCode });
      else await audit(ctx, request, { type: 'login_failure', method, errorCode });
      throw error;
    }
  };
}

/** The provider a login starts with: `?provider=` when it is configured, else the default one. */
export function startingProvider(ctx: AppContext): (request: FastifyRequest) => Promise<string> {
  return async (request) => {
    const id = (request.query as Record<string, unknown>).provider;
    if (typeof id === 'string' && id !== '') return ctx.rp.providers.some((p) => p.id === id) ? id : '';
    return ctx.rp.providers[0]?.id ?? '';
  };
}

/**
 * The provider a callback answers for. With one provider that is it; with several, the flow row
 * of `state` says (one primary-key read, before the handler consumes it). '' when unknown.
 */
export function callbackProvider(ctx: AppContext): (request: FastifyRequest) => Promise<string> {
  return async (request) => {
    if (ctx.rp.providers.length <= 1) return ctx.rp.providers[0]?.id ?? '';
    const state = (request.query as Record<string, unknown>).state;
    if (typeof state !== 'string' || state === '' || state.length > 512) return '';
    try {
      return (await flowProvider(ctx.db, state)) ?? '';
    } catch {
      return ''; // the handler will meet the same database trouble and report it
    }
  };
}
