// Sums a `perf script` of a server's CPU samples (perf record -e cpu-clock -g, the server started
// with --perf-basic-prof-only-functions through BENCH_NODE_ARGS) by what the work was for. Each
// sample goes to the category of its innermost frame that names one (kernel frames skipped, so a
// system call counts for the code that made it); the rest is V8's and libc's own.
//
//   perf script -i ours.data -F tid,ip,sym,dso | npx node bench/perf-summary.ts [--per N] [--unnamed]
//
// --per N: also µs per unit, given N units (logins, requests) over the samples' CPU time, from
// `--hz` (perf record -F, default 2000). --unnamed: the innermost frames of the unnamed samples.
// Unlike --cpu-prof, whose samples are taken on the wall clock (a thread blocked in a system call
// is sampled too), cpu-clock samples only time spent running.
import { createInterface } from 'node:readline';

/** Checked in this order at each frame: the first that matches names the sample. */
const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ['V8 compiler threads (JIT)', /OptimizedCompilationJob|Maglev.*Job|CompileTask|BackgroundCompile|Compiler::/],
  ['garbage collector', /Scaveng|MarkCompact|ConcurrentMarking|Heap::CollectGarbage|MinorMS|Sweeper|GCTracer/],
  ['request log (pino)', /pino\/|sonic-boom|@pinojs|logging\.ts|log-controller|access-log\.ts/],
  ['SQLite: commit and checkpoint (WAL writes)', /sqlite3VdbeHalt|sqlite3BtreeCommit|CommitPhase|pagerWalFrames|walWriteOneFrame|sqlite3WalFrames|sqlite3WalCheckpoint|walCheckpoint/],
  ['SQLite: statements', /sqlite3|node::sqlite|sqlite-dialect/],
  ['Kysely, prepared statements', /kysely|src\/db\/prepared/],
  ['PostgreSQL client (pg)', /node_modules\/pg|pg-protocol|pg-pool/],
  ['ID token signature (WebCrypto RSA)', /rsaSignVerify|signVerify|webcrypto.*verify|RSA_verify|bn_|rsa_|EVP_DigestVerify|EVP_PKEY_verify|BN_mod_exp/],
  ['random bytes', /RandomBytes|randomFill|RAND_bytes|randomUUID|getrandom/],
  ['hashes (SHA-256)', /SHA256|sha256|Hash::|crypto\/hash|digest\.ts/],
  ['provider requests (undici, Response)', /undici|src\/rp\/http\.ts|wasm/],
  ['openid-client, oauth4webapi, jose', /oauth4webapi|openid-client|jose\//],
  ['JSON', /JsonParse|JSON|JsonStringif/],
  ['HTTP server: parsing requests', /llhttp|http_parser|_http_incoming|_http_common|parserOn/],
  ['HTTP server: answers, sockets', /_http_outgoing|_http_server|writev|stream_base|streams\/|Socket|node:net/],
  ['Fastify and its plugins, Express', /fastify|find-my-way|fast-querystring|cookie|avvio|express|passport|session/],
  ['src/rp', /src\/rp\//],
  ['src/web', /src\/web\//],
  ['src/sessions, accounts, provisioning, audit', /src\/(sessions|accounts|provisioning|audit)\//],
  ['timers, process.nextTick', /node:timers|internal\/timers|task_queues|async_hooks/],
  ['event loop (epoll)', /epoll|uv__io_poll|uv_run/],
];

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : Number(args[at + 1]);
};
const per = option('--per');
const hz = option('--hz') ?? 2000;

const counts = new Map<string, number>();
const unnamed = new Map<string, number>();
let total = 0;
let stack: string[] = [];

function flush(): void {
  if (stack.length === 0) return;
  total++;
  for (const frame of stack) {
    const found = CATEGORIES.find(([, pattern]) => pattern.test(frame));
    if (found) {
      counts.set(found[0], (counts.get(found[0]) ?? 0) + 1);
      stack = [];
      return;
    }
  }
  const leaf = stack[0]!.slice(0, 90);
  unnamed.set(leaf, (unnamed.get(leaf) ?? 0) + 1);
  stack = [];
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') {
    flush();
    continue;
  }
  if (!/^\s/.test(line)) continue; // the sample's header line (thread id)
  const frame = line.trim().replace(/^[0-9a-f]+ /, '');
  if (!frame.includes('kernel.kallsyms')) stack.push(frame);
}
flush();

const rest = [...unnamed.values()].reduce((sum, n) => sum + n, 0);
const rows = [...counts].sort((a, b) => b[1] - a[1]);
rows.push(['other (V8 builtins, interpreter, libc)', rest]);
const cpuMs = (total * 1000) / hz;
console.log(`${total} samples, ${(cpuMs / 1000).toFixed(2)} s of CPU${per ? `, ${per} units: ${((cpuMs * 1000) / per).toFixed(0)} µs each` : ''}`);
for (const [name, n] of rows) {
  const share = `${((100 * n) / total).toFixed(1)}%`.padStart(6);
  console.log(`${share}  ${per ? `${((((n * 1000) / hz) * 1000) / per).toFixed(0).padStart(5)} µs  ` : ''}${name}`);
}
if (args.includes('--unnamed')) {
  for (const [frame, n] of [...unnamed].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${((100 * n) / total).toFixed(2).padStart(6)}%  ${frame}`);
}
