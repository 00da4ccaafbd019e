import { spawn } from 'node:child_process';

export const BIN = new URL('../../bin/oidc-connect.js', import.meta.url).pathname;

export interface CliRun { code: number | null; stdout: string; stderr: string }

/**
 * Runs the CLI as a user would, in `cwd`, with only the given environment (plus PATH); `node` runs
 * it with another Node or flags. A CLI that hangs is killed after 20 s and fails its test.
 */
export function cli(cwd: string, args: string[], env: Record<string, string> = {}, input?: string, node: string[] = [process.execPath]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(node[0]!, [...node.slice(1), BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env }, timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
