// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top functions by self time and by total
// (inclusive) time, with their file:line, so a profile can be read without DevTools.
//   npx node bench/profile-summary.ts <file.cpuprofile> [--top 30] [--filter text] [--under text] [--after seconds] [--busy]
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (!file) {
  console.error('usage: node bench/profile-summary.ts <file.cpuprofile> [--top N] [--filter text] [--under text] [--after seconds] [--busy]');
  process.exit(2);
}
const top = Number(argv[argv.indexOf('--top') + 1]) || 30;
const filter = argv.includes('--filter') ? argv[argv.indexOf('--filter') + 1] : undefined;
/** Only samples whose stack has a frame containing this text (e.g. a route handler's file:line). */
const under = argv.includes('--under') ? argv[argv.indexOf('--under') + 1] : undefined;
/** Skip the first N seconds of the profile (start-up: module loading, type stripping). */
const after = argv.includes('--after') ? Number(argv[argv.indexOf('--after') + 1]) * 1e6 : 0;
/** Leave out idle time, so percentages are of busy time. */
const busy = argv.includes('--busy');

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Time per sample: the delta after it (V8's convention), in microseconds.
const selfUs = new Map<number, number>();
let clock = 0;
profile.samples.forEach((id, i) => {
  clock += profile.timeDeltas[i] ?? 0;
  if (clock < after) return;
  if (busy && byId.get(id)!.callFrame.functionName === '(idle)') return;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
});
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

const short = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/').replace(/^.*\/(src|bench)\//, '$1/');
const key = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  if (under !== undefined) {
    let found = false;
    for (let cur: number | undefined = id; cur !== undefined && !found; cur = parent.get(cur)) found = key(byId.get(cur)!.callFrame).includes(under);
    if (!found) continue;
  }
  self.set(key(node.callFrame), (self.get(key(node.callFrame)) ?? 0) + us);
  // Count each frame once per sample even under recursion.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (of ${(totalUs / 1000).toFixed(0)} ms sampled)`);
  const rows = [...map].filter(([k]) => !filter || k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, us] of rows) console.log(`${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
/** Self time by owner: a package under node_modules, a folder of src/ or bench/, or a Node internal area. */
const owner = (url: string): string => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const local = /\/(src|bench)\/([^/]+)/.exec(url);
  if (local) return `${local[1]}/${local[2]}`;
  const internal = /^node:internal\/(deps\/)?([^/:]+)/.exec(url);
  if (internal) return `node:${internal[2]}`;
  if (url.startsWith('node:')) return url.split(':')[0] + ':' + url.split(':')[1];
  return url === '' ? '(native/V8)' : url;
};
const owners = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)!.callFrame;
  if (under !== undefined) {
    let found = false;
    for (let cur: number | undefined = id; cur !== undefined && !found; cur = parent.get(cur)) found = key(byId.get(cur)!.callFrame).includes(under);
    if (!found) continue;
  }
  const name = frame.url === '' ? `${frame.functionName} (native)` : owner(frame.url);
  owners.set(name, (owners.get(name) ?? 0) + us);
}
print('self time by package/folder', owners);
print('self time', self);
print('total time (inclusive)', inclusive);
