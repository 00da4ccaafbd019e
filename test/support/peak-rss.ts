/**
 * Loaded with `node --import` into a child process: at exit it writes the process's peak resident
 * set size (VmHWM in /proc/self/status, which the kernel keeps, so no sampling can miss the peak)
 * to stderr as one line, `peak-rss-kb N`.
 */
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  writeSync(2, `peak-rss-kb ${kb ?? 'unknown'}\n`);
});
