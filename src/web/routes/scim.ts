import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ScimError } from '../../scim/errors.ts';
import { MAX_BODY_BYTES, resourceTypes, schemas, serviceProviderConfig } from '../../scim/schemas.ts';
import { ScimService, type ScimAnswer } from '../../scim/service.ts';
import { auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { toOidcConnectError } from '../pages/error-pages.ts';
import { carriesToken } from '../protection/bearer-secrets.ts';
import { perAddress } from '../protection/rate-limits.ts';

export const SCIM_PREFIX = '/scim/v2';
const MEDIA_TYPE = 'application/scim+json; charset=utf-8';
/** Requests without a valid token, per client address and minute; those with one are not counted. */
const REFUSALS_PER_MINUTE = 30;

/**
 * SCIM 2.0 at $APP_URL/scim/v2 (src/scim/), registered only when SCIM_TOKENS is set. Every route
 * needs a token from SCIM_TOKENS; a request without one is a 401, counted in the audit log per
 * address and minute, and past REFUSALS_PER_MINUTE refused at once (429). Answers and errors are
 * application/scim+json; nothing here answers with an HTML page.
 */
export async function scimRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const hashes = ctx.config.scim.tokenHashes;
  if (hashes.length === 0) return;
  const service = new ScimService({ db: ctx.db, roleRules: ctx.config.roleRules, base: `${ctx.config.appUrl}${SCIM_PREFIX}` });

  await app.register(async (scim) => {
    const parser = scim.getDefaultJsonParser('error', 'error');
    scim.addContentTypeParser(['application/scim+json', 'application/json'], { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, parser);

    const send = (reply: FastifyReply, answer: ScimAnswer) => {
      reply.code(answer.status).header('cache-control', 'no-store');
      if (answer.version) reply.header('etag', answer.version);
      if (answer.location && answer.status === 201) reply.header('location', answer.location);
      if (answer.body === undefined) return reply.send();
      return reply.type(MEDIA_TYPE).send(JSON.stringify(answer.body));
    };
    const fail = (reply: FastifyReply, error: ScimError) => reply.code(error.status).header('cache-control', 'no-store').type(MEDIA_TYPE).send(JSON.stringify(error));

    scim.setErrorHandler((error, request, reply) => {
      if (error instanceof ScimError) return fail(reply, error);
      const code = (error as { code?: string }).code;
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, new ScimError(413, `The body is larger than ${MAX_BODY_BYTES} bytes.`));
      if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fail(reply, new ScimError(415, 'Send application/scim+json.'));
      if (error instanceof SyntaxError || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
        return fail(reply, new ScimError(400, 'The body is not valid JSON.', 'invalidSyntax'));
      }
      const mapped = toOidcConnectError(error);
      if (mapped.status === 429) reply.header('retry-after', String(mapped.retryAfterSeconds ?? 60));
      if (mapped.status >= 500) request.log.error({ err: error, code: mapped.code }, 'SCIM request failed');
      return fail(reply, new ScimError(mapped.status, mapped.status >= 500 && mapped.code === 'INTERNAL' ? 'Something went wrong on our side.' : mapped.message));
    });
    scim.setNotFoundHandler((_request, reply) => fail(reply, new ScimError(404, 'No SCIM resource at this address.')));

    scim.addHook('onRequest', async (request, reply) => {
      if (carriesToken(request.headers.authorization, hashes)) return undefined;
      await auditAnonymous(ctx, request, { type: 'provisioning', errorCode: 'SCIM_UNAUTHORIZED' });
      request.log.info({ code: 'SCIM_UNAUTHORIZED' }, 'SCIM request without a valid token');
      reply.header('www-authenticate', 'Bearer realm="SCIM"');
      return fail(reply, new ScimError(401, 'Send a bearer token from SCIM_TOKENS.'));
    });

    // The plugin's scope parses forms too; SCIM bodies are JSON only.
    scim.addHook('preValidation', async (request, reply) => {
      if (request.body === undefined) return undefined;
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type === 'application/scim+json' || type === 'application/json') return undefined;
      return fail(reply, new ScimError(415, 'Send application/scim+json.'));
    });

    const config = {
      session: false, json: true, renewal: false,
      rateLimit: { ...perAddress(REFUSALS_PER_MINUTE), allowList: (request: FastifyRequest) => carriesToken(request.headers.authorization, hashes) },
    };
    const caller = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? '' });
    const query = (request: FastifyRequest) => request.query as Record<string, unknown>;
    const id = (request: FastifyRequest) => (request.params as { id: string }).id;
    const base = service.base;

    scim.get('/ServiceProviderConfig', { config }, async (_r, reply) => send(reply, { status: 200, body: serviceProviderConfig(base) }));
    scim.get('/ResourceTypes', { config }, async (_r, reply) => send(reply, { status: 200, body: listOf(resourceTypes(base)) }));
    scim.get('/ResourceTypes/:id', { config }, async (request, reply) => send(reply, one(resourceTypes(base), 'id', id(request))));
    scim.get('/Schemas', { config }, async (_r, reply) => send(reply, { status: 200, body: listOf(schemas(base)) }));
    scim.get('/Schemas/:id', { config }, async (request, reply) => send(reply, one(schemas(base), 'id', id(request))));

    scim.get('/Users', { config }, async (request, reply) => send(reply, await service.listUsers(query(request))));
    scim.post('/Users', { config }, async (request, reply) => send(reply, await service.createUser(request.body, caller(request))));
    scim.get('/Users/:id', { config }, async (request, reply) => send(reply, await service.getUser(id(request))));
    scim.put('/Users/:id', { config }, async (request, reply) => send(reply, await service.replaceUser(id(request), request.body, caller(request))));
    scim.patch('/Users/:id', { config }, async (request, reply) => send(reply, await service.patchUser(id(request), request.body, caller(request))));
    scim.delete('/Users/:id', { config }, async (request, reply) => send(reply, await service.deleteUser(id(request), caller(request))));

    scim.get('/Groups', { config }, async (request, reply) => send(reply, await service.listGroups(query(request))));
    scim.post('/Groups', { config }, async (request, reply) => send(reply, await service.createGroup(request.body)));
    scim.get('/Groups/:id', { config }, async (request, reply) => send(reply, await service.getGroup(id(request), query(request))));
    scim.put('/Groups/:id', { config }, async (request, reply) => send(reply, await service.replaceGroup(id(request), request.body)));
    scim.patch('/Groups/:id', { config }, async (request, reply) => send(reply, await service.patchGroup(id(request), request.body)));
    scim.delete('/Groups/:id', { config }, async (request, reply) => send(reply, await service.deleteGroup(id(request))));
  }, { prefix: SCIM_PREFIX });
}

function listOf(resources: object[]): object {
  return { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: resources.length, startIndex: 1, itemsPerPage: resources.length, Resources: resources };
}

function one(resources: object[], key: string, value: string): ScimAnswer {
  const found = resources.find((r) => (r as Record<string, unknown>)[key] === value);
  if (!found) throw new ScimError(404, `${value.slice(0, 100)} not found.`);
  return { status: 200, body: found };
}
