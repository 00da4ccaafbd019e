import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  wrk: string;
  sqlite: string;
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(cpuinfo)?.[1];
  const wrkOut = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const wrkVersion = /wrk (\S+)/.exec(`${wrkOut.stdout}${wrkOut.stderr}`)?.[1] ?? 'unknown';
  const db = new DatabaseSync(':memory:');
  const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  db.close();
  return {
    cpu: mhz ? `${model} (${Math.round(Number(mhz))} MHz)` : model,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    wrk: wrkVersion,
    sqlite,
  };
}
