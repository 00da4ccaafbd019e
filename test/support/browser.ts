/**
 * Browser-test support: launching Debian's Chromium through playwright-core, the skip rule, and
 * running the real CLI (`bin/oidc-connect.js serve` / `createsuperuser`) as a user would, in a
 * fresh working directory.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { freePort } from './app.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI_PATH = join(PROJECT_ROOT, 'bin', 'oidc-connect.js');
/**
 * Where the browser tests' screenshots go: docs/ (the README's pictures) only with UPDATE_SCREENSHOTS=1,
 * so that a test run leaves the tree as it was; otherwise a directory of their own under the system's tmp.
 */
export const SCREENSHOT_DIR = process.env['UPDATE_SCREENSHOTS'] === '1' ? join(PROJECT_ROOT, 'docs') : join(tmpdir(), 'oidc-connect-screenshots');

/** CI counts as set when the variable is non-empty and not an explicit "false"/"0". */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim();
  return value !== undefined && value !== '' && !/^(false|0)$/i.test(value);
}

/**
 * The `skip` option for browser tests. They may skip only when Chromium is missing AND CI is not
 * set; on CI a missing browser is not skipped, so launchChromium() fails the test instead.
 */
export function browserSkipReason(): string | false {
  if (existsSync(CHROMIUM_PATH) || isCi()) return false;
  return `${CHROMIUM_PATH} is not installed (apt-get install chromium); browser tests skipped outside CI`;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: browser tests cannot run (CI=${process.env.CI ?? ''}). Install Debian's chromium.`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
  });
}

/** Configuration a developer's shell might carry that would point the app somewhere else. */
const FOREIGN_ENV = [
  'NODE_TEST_CONTEXT',
  'NODE_ENV',
  'APP_URL',
  'DATABASE_URL',
  'SESSION_SECRET',
  'OKTA_DOMAIN',
  'OIDC_ISSUER',
  'OIDC_RP_CLIENT_ID',
  'OIDC_RP_CLIENT_SECRET',
  'OIDC_OP_AUTHORIZATION_ENDPOINT',
  'OIDC_OP_TOKEN_ENDPOINT',
  'OIDC_OP_USER_ENDPOINT',
  'OIDC_OP_JWKS_ENDPOINT',
  'OIDC_PROVIDER_NAME',
  'TRUST_PROXY',
];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ServedApp {
  /** http://localhost:PORT */
  url: string;
  /** http://localhost:DEV_IDP_PORT */
  idpOrigin: string;
  /** http://localhost:DEV_IDP_PORT/oauth2/default */
  issuer: string;
  /** the temporary working directory (./data lives here) */
  cwd: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  /** everything the server printed so far */
  output(): string;
  /** runs `oidc-connect <args>` in the same working directory and environment */
  cli(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  /** SIGTERM, then waits for the exit (SIGKILL after the timeout); removes the directory */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`oidc-connect ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

export interface ServeOptions {
  startTimeoutMs?: number;
  /** What Node runs instead of `bin/oidc-connect.js serve`, e.g. an example app that reads the same PORT and DEV_IDP_PORT. */
  command?: readonly string[];
}

/**
 * Starts `oidc-connect serve` in a fresh temporary directory on free ports, with the embedded
 * development provider, and waits until /healthz answers 200.
 */
export async function serveApp(options: ServeOptions = {}): Promise<ServedApp> {
  const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-browser-'));
  const port = await freePort();
  let idpPort = await freePort();
  while (idpPort === port) idpPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DEV_IDP_PORT: String(idpPort), LOG_LEVEL: 'warn' };
  for (const name of FOREIGN_ENV) delete env[name];

  const child = spawn(process.execPath, options.command ?? [CLI_PATH, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://localhost:${port}`;
  const idpOrigin = `http://localhost:${idpPort}`;
  let removed = false;
  const cleanup = (): void => {
    if (removed) return;
    removed = true;
    rmSync(cwd, { recursive: true, force: true });
  };

  const stop = async (timeoutMs = 10_000) => {
    if (!hasExited) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolveKill) => {
      timer = setTimeout(() => {
        if (!hasExited) child.kill('SIGKILL');
        resolveKill();
      }, timeoutMs);
    });
    await Promise.race([exited, killed]);
    const result = await exited;
    clearTimeout(timer);
    cleanup();
    return result;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  for (;;) {
    if (hasExited) {
      const { code, signal } = await exited;
      cleanup();
      throw new Error(`oidc-connect serve exited early (code ${code}, signal ${signal}):\n${output}`);
    }
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(2_000);
      throw new Error(`oidc-connect serve did not answer ${url}/healthz in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    idpOrigin,
    issuer: `${idpOrigin}/oauth2/default`,
    cwd,
    env,
    child,
    output: () => output,
    cli: (args, extraEnv = {}) => runCli(args, cwd, { ...env, ...extraEnv }),
    stop,
  };
}

/**
 * One served app and one Chromium for a describe block: started in `before`, stopped in `after`
 * (which also checks the server's graceful shutdown). Call it inside `describe`.
 */
export function browserRig(viewport: { width: number; height: number }, serve: ServeOptions = {}) {
  let served: ServedApp | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    // One at a time, so that a failure of either leaves nothing running that after() can't stop.
    browser = await launchChromium();
    served = await serveApp(serve);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    if (served) {
      const { code, signal } = await served.stop();
      assert.equal(signal, null, `server was killed by ${signal}:\n${served.output()}`);
      assert.equal(code, 0, `graceful shutdown should exit 0:\n${served.output()}`);
    }
  });

  return {
    app(): ServedApp {
      assert.ok(served, 'the app is running');
      return served;
    },
    async newContext(): Promise<BrowserContext> {
      assert.ok(browser, 'Chromium is running');
      const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-US' });
      context.setDefaultTimeout(10_000);
      contexts.push(context);
      return context;
    },
  };
}
