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

export interface TerminalRun { code: number | null; transcript: string }

/**
 * Runs the CLI in a pseudo-terminal (util-linux `script`), as a person at a terminal would, and
 * answers each prompt once it has appeared: `dialogue` pairs what to wait for with the line to type.
 * The transcript is what the terminal showed (stdout and stderr together, without carriage returns). The child
 * is killed after 20 s; a prompt that never comes ends the run when the child exits.
 */
export function cliInTerminal(cwd: string, args: string[], env: Record<string, string>, dialogue: Array<[RegExp, string]>): Promise<TerminalRun> {
  const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    // --echo never: only the program echoes what is typed, so a hidden prompt shows nothing.
    const child = spawn('script', ['--quiet', '--flush', '--return', '--echo', 'never', '--command', command, '/dev/null'], {
      cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, SHELL: '/bin/sh', TERM: 'dumb', ...env }, timeout: 20_000,
    });
    let transcript = '';
    let answered = 0;
    let step = 0;
    const next = () => {
      while (step < dialogue.length) {
        const [prompt, answer] = dialogue[step]!;
        const match = prompt.exec(transcript.slice(answered));
        if (!match) return;
        answered += match.index + match[0].length;
        step++;
        child.stdin.write(`${answer}\r`);
      }
    };
    child.stdout.on('data', (chunk) => {
      transcript += String(chunk).replace(/\r/g, '');
      next();
    });
    child.stderr.on('data', (chunk) => (transcript += String(chunk)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, transcript }));
  });
}
