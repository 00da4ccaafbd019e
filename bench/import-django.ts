// `npx node bench/import-django.ts [users]` (default 100000): how long `oidc-connect import-django`
// takes for a large Django user table, both databases SQLite. Not part of `npm test` or `npm run bench`.
//
// The Django database is a real one (test/support/django/make_project.py: startproject, migrate),
// filled with `users` rows in Django's format: pbkdf2_sha256 hashes (random, well-formed: the import
// stores hashes without checking them), 1 in 20 with an unusable password, 1 in 100 inactive, every
// tenth in one of 5 groups. Needs Debian's python3-django (see .ci/run).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const count = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-import-bench-'));
const root = new URL('..', import.meta.url).pathname;
try {
  execFileSync('/usr/bin/python3', [join(root, 'test/support/django/make_project.py'), join(dir, 'django')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const djangoFile = join(dir, 'django', 'db.sqlite3');
  const django = new DatabaseSync(djangoFile);
  const started = performance.now();
  django.exec('BEGIN');
  const insertUser = django.prepare(`INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
    VALUES (?, ?, 0, ?, ?, ?, ?, 0, ?, ?)`);
  const insertGroup = django.prepare('INSERT INTO auth_group (name) VALUES (?)');
  const insertMembership = django.prepare('INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)');
  for (let g = 1; g <= 5; g++) insertGroup.run(`group-${g}`);
  for (let i = 0; i < count; i++) {
    const password = i % 20 === 0
      ? `!${randomBytes(30).toString('base64url')}`
      : `pbkdf2_sha256$870000$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64')}`;
    const joined = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString().replace('T', ' ').replace('Z', '');
    const { lastInsertRowid } = insertUser.run(password, i % 3 === 0 ? null : joined, `user${i}`, `First${i}`, `Last${i}`, `user${i}@example.com`, i % 100 === 0 ? 0 : 1, joined);
    if (i % 10 === 0) insertMembership.run(lastInsertRowid, 1 + (i % 5));
  }
  django.exec('COMMIT');
  django.close();
  process.stderr.write(`Django database with ${count} more users written in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

  const env = { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: `sqlite:${join(dir, 'ours.sqlite')}`, SESSION_SECRET: 'bench-secret-bench-secret-bench-secret-1' };
  const run = (label: string) => {
    const t0 = performance.now();
    const cpu0 = childrenCpuSeconds();
    const result = spawnSync(process.execPath, [join(root, 'bin/oidc-connect.js'), 'import-django', `sqlite:${djangoFile}`], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 30 });
    const seconds = (performance.now() - t0) / 1000;
    if (result.status !== 0) throw new Error(`import-django exited ${result.status}: ${result.stderr}`);
    const summary = result.stdout.trim().split('\n').at(-1);
    console.log(`${label}: ${seconds.toFixed(1)} s wall, ${(childrenCpuSeconds() - cpu0).toFixed(1)} s CPU (${Math.round(count / seconds)} users/s) — ${summary}`);
  };
  console.log(`import-django, ${count} users, SQLite to SQLite, Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}`);
  run('first import (creates)');
  run('second import (no-op)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** CPU (user + system) of the child processes waited for so far, from /proc: wall time alone misleads on a busy machine. */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  // Fields 16 and 17 of stat (cutime, cstime), counted after the ") " that ends the command name.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}
