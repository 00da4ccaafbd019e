import { writeFileSync } from 'node:fs';
import { LOAD_CORE, run } from './proc.ts';

export interface WrkOptions {
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  /** A wrk Lua script (e.g. a pool of session cookies, one picked per request). */
  script?: string;
}

export interface WrkResult {
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  requests: number;
  /** Socket errors, timeouts and non-2xx/3xx answers: any of them invalidates the run. */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (!match) throw new Error(`wrk printed no ${percentile}% latency:\n${text}`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** One wrk run on the load generator's core: one thread, keep-alive connections. */
export async function wrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const args = ['-c', LOAD_CORE, 'wrk', '-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--latency', '--timeout', '10s'];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (options.script) args.push('-s', options.script);
  args.push(url);
  const out = await run('taskset', args, { timeoutMs: (options.durationS + 30) * 1000 });
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1]);
  const requests = Number(/^\s*(\d+) requests in/m.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  if (!Number.isFinite(rps) || !Number.isFinite(requests)) throw new Error(`unexpected wrk output:\n${out}`);
  return { rps, p50: latencyMs(out, '50'), p99: latencyMs(out, '99'), requests, errors: non2xx + socketErrors };
}

/**
 * A wrk script that sends `values` in turn, one per request, as the Cookie header `prefix` + value +
 * `suffix`, and carries on from where the previous run of the script stopped (kept in
 * `file`.position): a value comes round again only after every other, across runs too.
 */
export function writeCycleScript(file: string, values: readonly string[], prefix = '', suffix = ''): void {
  const position = `${file}.position`;
  writeFileSync(position, '0');
  const lines = [
    'local values = {',
    ...Array.from({ length: Math.ceil(values.length / 20) }, (_, i) => `  ${values.slice(i * 20, i * 20 + 20).map((v) => JSON.stringify(v)).join(', ')},`),
    '}',
    'local n = #values',
    `local prefix, suffix = ${JSON.stringify(prefix)}, ${JSON.stringify(suffix)}`,
    `local saved = io.open("${position}", "r")`,
    'position = tonumber(saved:read("*a"))',
    'saved:close()',
    'request = function()',
    '  position = position + 1',
    '  return wrk.format("GET", "/", { ["Cookie"] = prefix .. values[position % n + 1] .. suffix })',
    'end',
    // setup() and done() run in wrk's main Lua state; `position` lives in the thread's.
    'local threads = {}',
    'setup = function(thread) table.insert(threads, thread) end',
    'done = function()',
    `  local out = io.open("${position}", "w")`,
    '  out:write(tostring(threads[1]:get("position")))',
    '  out:close()',
    'end',
    '',
  ];
  writeFileSync(file, lines.join('\n'));
}
