import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Core 0 runs the server under test; core 1 runs the load generator (and this driver). */
export const SERVER_CORE = '0';
export const LOAD_CORE = '1';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ); 100 on Linux unless `getconf CLK_TCK` says otherwise. */
const CLK_TCK = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(out.stdout?.trim());
  return Number.isFinite(value) && value > 0 ? value : 100;
})();

export { freePort } from '../../test/support/app.ts';

/** Pins an existing process (all its threads) to a core. */
export function pin(pid: number, core: string): void {
  const out = spawnSync('taskset', ['-a', '-p', '-c', core, String(pid)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`taskset -a -p -c ${core} ${pid} failed: ${out.stderr}`);
}

/** CPU time (user + system) a process has used so far, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** Resident memory now and at its peak, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** What the child printed on its `READY {json}` line. */
  readonly info: Record<string, unknown>;
  /** The file its standard output (its request log) goes to. */
  readonly logFile: string;
  stop(): Promise<void>;
}

const children = new Set<Child>();

let logDir = join(tmpdir(), `oidc-connect-bench-logs-${process.pid}`);

/** Where the servers' standard output goes from now on (one file per server, removed when it stops). */
export function setServerLogDir(dir: string): void {
  logDir = dir;
}

/** The last lines of a file, for an error message. */
function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts a TypeScript server module under this same Node binary (Node 24), pinned to `core` with
 * taskset, and waits for it to print `READY {json}` on its standard error, which goes to ours,
 * prefixed, with BENCH_VERBOSE. Its standard output (its request log, one line per request in
 * production) goes to a file, as under a process manager that writes logs to disk: a pipe read by
 * this driver, which shares its core with the load generator, could fill, and pino would then
 * wait on it in the middle of a request. NODE_ENV is `development` unless `env` sets it.
 */
export async function startServer(name: string, module: string, core: string, env: Record<string, string>, args: string[] = []): Promise<Child> {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name.replace(/[^\w.-]+/g, '-')}-${Date.now().toString(36)}.log`);
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('taskset', ['-c', core, process.execPath, ...args, module], {
      env: { ...process.env, NODE_ENV: 'development', ...env },
      stdio: ['ignore', out, 'pipe'],
    });
  } finally {
    closeSync(out); // the child has its own copy
  }
  const stderr = createInterface({ input: child.stderr! });
  const recent: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s:\n${recent.join('\n')}\n${tail(logFile)}`)), 60_000);
    stderr.on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice('READY '.length)) as Record<string, unknown>);
        return;
      }
      recent.push(line);
      if (recent.length > 40) recent.shift();
      if (process.env['BENCH_VERBOSE']) process.stderr.write(`[${name}] ${line}\n`);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before it was ready:\n${recent.join('\n')}\n${tail(logFile)}`));
    });
  });
  // taskset execs node, so the pid is node's own.
  const pid = child.pid!;
  const handle: Child = {
    name,
    pid,
    info,
    logFile,
    async stop() {
      children.delete(handle);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (!process.env['BENCH_VERBOSE']) rmSync(logFile, { force: true });
    },
  };
  children.add(handle);
  return handle;
}

/** Whether a server's standard output (its request log) holds `text` yet. */
export function logHolds(child: Child, text: string): boolean {
  return readFileSync(child.logFile, 'utf8').includes(text);
}

/** Stops every child still running (on the way out, also after an error). */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => child.stop()));
}

/** Runs a command to completion; returns its stdout. */
export function run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${err || out}`));
    });
  });
}

/** The pids of a process and its children (one level: PostgreSQL's postmaster and its backends). */
function withChildren(pid: number): number[] {
  const pids = [pid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Pins a server that we did not start (PostgreSQL) and its current children to a core; children
 * forked later inherit it. Returns a function that restores every affinity it changed.
 */
export function pinTree(pid: number, core: string): () => void {
  const previous = new Map<number, string>();
  for (const each of withChildren(pid)) {
    const out = spawnSync('taskset', ['-c', '-p', String(each)], { encoding: 'utf8' });
    const list = /list:\s*(\S+)/.exec(out.stdout)?.[1];
    if (!list) continue;
    previous.set(each, list);
    spawnSync('taskset', ['-a', '-c', '-p', core, String(each)], { encoding: 'utf8' });
  }
  return () => {
    for (const each of withChildren(pid)) {
      const list = previous.get(each) ?? previous.get(pid);
      if (list) spawnSync('taskset', ['-a', '-c', '-p', list, String(each)], { encoding: 'utf8' });
    }
  };
}

/** Busy time of one core so far (all processes), in milliseconds, from /proc/stat. */
export function coreBusyMs(core: string): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) return NaN;
  // Interrupt and softirq time is left out: the kernel's loopback TCP work for the server's own
  // connections lands there, on its core, without being counted as the server's.
  const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return ((user! + nice! + system! + steal!) * 1000) / CLK_TCK;
}

/**
 * Runs `work` and measures the server's own CPU time meanwhile, and how much of the server's core
 * went to other processes (another tenant, a test run)
 * while `work` ran: core busy time minus the server's own CPU time, as a share of the elapsed time.
 */
export async function withInterference<T>(serverPid: number, work: () => Promise<T>): Promise<{ result: T; otherLoad: number; serverCpuMs: number }> {
  const core0 = coreBusyMs(SERVER_CORE);
  const own0 = cpuMs(serverPid);
  const started = performance.now();
  const result = await work();
  const elapsed = performance.now() - started;
  const serverCpuMs = cpuMs(serverPid) - own0;
  const other = coreBusyMs(SERVER_CORE) - core0 - serverCpuMs;
  return { result, otherLoad: Math.max(0, other / elapsed), serverCpuMs };
}
