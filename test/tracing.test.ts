/**
 * OpenTelemetry spans (issue 22, section 4), as a host that registers a tracer provider sees them: the
 * OpenTelemetry SDK's in-memory exporter (a devDependency) and its AsyncLocalStorage context manager,
 * a real app and the development provider, on SQLite and PostgreSQL. The callback's span holds the
 * provider calls and the statements it made; a failed callback carries our error code; password
 * checks have their span; no statement's span carries its parameters.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createUser } from '../src/accounts/users.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager().enable();

before(() => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager);
});
after(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

const alice = { email: 'alice@example.com', password: 'wonderland' };
const STATEMENT = /^(SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|NOTIFY|OTHER)( [a-z_]+)?$/;

const childrenOf = (spans: readonly ReadableSpan[], parent: ReadableSpan) =>
  spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);

test('the package depends on @opentelemetry/api only, no SDK', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.dependencies).filter((name) => name.startsWith('@opentelemetry/')), ['@opentelemetry/api']);
});

for (const target of databaseTargets) {
  describe(`spans on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let s: DevStack;

    before(async () => {
      database = await target.create();
      s = await startDevStack({ DATABASE_URL: database.url, LOGIN_RATE_LIMIT_PER_MINUTE: '100000' });
      await createUser(s.app.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    });
    after(async () => {
      await s?.close();
      await database?.drop();
    });

    test('a provider sign-in: the callback span holds the token request and the statements, in one trace', async () => {
      const client = new HttpClient();
      const start = await client.get(`${s.app.url}/accounts/login/`);
      assert.equal(start.status, 200);
      exporter.reset();
      const landed = await providerLogin(client, s.app.url, alice);
      assert.equal(landed.status, 302, landed.body);
      const spans = exporter.getFinishedSpans();
      const callbacks = spans.filter((span) => span.name === 'oidc_connect.callback');
      assert.equal(callbacks.length, 1);
      const callback = callbacks[0]!;
      assert.equal(callback.status.code, SpanStatusCode.UNSET);
      assert.equal(callback.attributes['oidc_connect.error_code'], undefined);

      const children = childrenOf(spans, callback);
      const token = children.find((span) => span.name === 'POST token');
      assert.ok(token, `children: ${children.map((span) => span.name).join(', ')}`);
      assert.equal(token.kind, SpanKind.CLIENT);
      assert.equal(token.attributes['oidc_connect.provider.endpoint'], 'token');
      assert.equal(token.attributes['http.request.method'], 'POST');
      assert.equal(token.attributes['http.response.status_code'], 200);
      assert.equal(token.attributes['url.full'], `${s.idp.issuer}/v1/token`);
      assert.equal(token.spanContext().traceId, callback.spanContext().traceId);

      const statements = children.filter((span) => span.attributes['db.operation.name'] !== undefined);
      assert.ok(statements.some((span) => span.name === 'INSERT sessions'), statements.map((span) => span.name).join(', '));
      for (const span of statements) {
        assert.match(span.name, STATEMENT);
        assert.equal(span.kind, SpanKind.CLIENT);
        assert.equal(span.attributes['db.system.name'], target.name === 'sqlite' ? 'sqlite' : 'postgresql');
        // The statement's kind and table, never its text or its parameters.
        for (const attribute of Object.values(span.attributes)) assert.doesNotMatch(String(attribute), /alice|example\.com|\?|\$\d/);
      }
    });

    test('a failed callback: its span is an error carrying oidc_connect.error_code', async () => {
      exporter.reset();
      const failed = await new HttpClient().get(`${s.app.url}/authorization-code/callback?state=forged&code=forged`);
      assert.equal(failed.status, 400);
      const callback = exporter.getFinishedSpans().find((span) => span.name === 'oidc_connect.callback');
      assert.ok(callback);
      assert.equal(callback.status.code, SpanStatusCode.ERROR);
      assert.equal(callback.status.message, 'STATE_INVALID');
      assert.equal(callback.attributes['oidc_connect.error_code'], 'STATE_INVALID');
      assert.ok(callback.events.some((event) => event.name === 'exception'));
    });

    test('a password sign-in: the check has its span, and a wrong password is not an error of the span', async () => {
      for (const [password, status] of [['carol password', 302], ['wrong', 401]] as const) {
        const client = new HttpClient();
        const page = await client.get(`${s.app.url}/accounts/login/`);
        exporter.reset();
        const answer = await client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username: 'carol', password });
        assert.equal(answer.status, status);
        const verify = exporter.getFinishedSpans().filter((span) => span.name === 'oidc_connect.password.verify');
        assert.equal(verify.length, 1);
        assert.equal(verify[0]!.attributes['oidc_connect.password.scheme'], 'scrypt');
        assert.equal(verify[0]!.status.code, SpanStatusCode.UNSET);
      }
    });
  });
}
