/** Real app processes (`oidc-connect serve`) for the scale-out tests: each instance its own process, as in production. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/oidc-connect.js', import.meta.url));

export interface Instance {
  name: string;
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * `oidc-connect serve` in its own process, as an operator would run it; resolves once /healthz
 * answers. LOG_LEVEL is warn unless `env` says otherwise.
 */
export async function startInstance(name: string, port: number, env: Record<string, string>, cwd: string): Promise<Instance> {
  // Only the settings given here: nothing from the test runner's own environment configures the app.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABASE_|OIDC_|OKTA_|SESSION_|APP_URL$|PORT$|HOST$|NODE_ENV$|DEV_IDP_)/.test(k)));
  const child = spawn(process.execPath, [CLI, 'serve'], {
    cwd,
    env: { ...base, LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const exited = once(child, 'exit');
  const instance: Instance = {
    name,
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance ${name} exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${instance.url}/healthz`);
      if (response.status === 200) return instance;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await instance.stop();
      throw new Error(`instance ${name} did not answer /healthz within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
