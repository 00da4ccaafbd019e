import { existsSync } from 'node:fs';
import { ImportPlanner, type DjangoUser, type ImportPlan, type ImportTargets } from '../accounts/django-import.ts';
import { applyImportPlans, findImportTargets } from '../accounts/django-import-store.ts';
import { normalizeEmail } from '../accounts/email.ts';
import { loginFormReaches } from '../accounts/users.ts';
import type { Config, UsernameAlgo } from '../config/index.ts';
import { migrate, openDatabase, pendingMigrations, type DatabaseHandle } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';
import { usersWithIdentities } from '../provisioning/identities.ts';
import { baseUsername } from '../provisioning/username.ts';
import { openDjangoSource } from './django-source.ts';

export interface ImportDjangoOptions {
  dryRun: boolean;
  onlyActive: boolean;
  strict: boolean;
  emailsUnverified: boolean;
  /** Usernames here that Django users may be merged into despite an unverified email or a provider identity. */
  mergeInto: readonly string[];
  /** Every user in the report, not only the counts and the conflicts. */
  verbose: boolean;
  /** Report lines (stdout). */
  out: (line: string) => void;
  /** Progress: a bar on a terminal, plain lines otherwise (stderr). */
  progress: NodeJS.WriteStream;
}

/** Users per read and per transaction. */
const BATCH = 500;

/** The two username forms that mark an account mozilla-django-oidc created at a provider login. */
const PROVIDER_ALGOS: UsernameAlgo[] = ['mozilla-django-oidc', 'sha224'];

/**
 * `oidc-connect import-django <url>`: Django's users, groups and password hashes into this app's
 * database. Returns the exit code: 0, or 1 with --strict when users were skipped.
 */
export async function importDjango(config: Config, url: string, options: ImportDjangoOptions): Promise<number> {
  const source = await openDjangoSource(url);
  const target = await openTarget(config, options.dryRun);
  const planner = new ImportPlanner({ emailsVerified: !options.emailsUnverified, mergeInto: new Set(options.mergeInto) });
  const report = new Report(options.dryRun, options.verbose);
  try {
    const total = await source.count(options.onlyActive);
    options.out(`Importing ${total} Django user${total === 1 ? '' : 's'} from ${source.display} into ${config.database.display}${options.dryRun ? ' (dry run: nothing is written)' : ''}.`);
    const progress = new Progress(options.progress, total);
    for await (const batch of source.batches(options.onlyActive, BATCH)) {
      const users = batch.map(withProviderUsername);
      const plan = async (db: DatabaseHandle['db'] | null) => {
        const targets = db ? await findImportTargets(db, keysOf(users), usersWithIdentities) : EMPTY_TARGETS;
        return users.map((user) => planner.plan(user, targets));
      };
      const plans = target === null
        ? await plan(null)
        : options.dryRun
          ? await plan(target.db)
          : await target.db.transaction().execute(async (trx) => {
            const plans = await plan(trx);
            await applyImportPlans(trx, plans);
            return plans;
          });
      for (const p of plans) report.add(p);
      progress.advance(users.length);
    }
    progress.done();
  } finally {
    await source.close();
    await target?.close();
  }
  report.print(options.out, {
    dryRun: options.dryRun, emailsUnverified: options.emailsUnverified, usernameAlgos: config.providers.map((p) => p.usernameAlgo),
    unusedMergeInto: planner.unusedMergeInto(),
  });
  return options.strict && report.skipped.count > 0 ? 1 : 0;
}

/**
 * This app's database, migrated. A dry run never writes, not even a migration: a database that
 * does not exist yet or has no tables counts as empty, and one between versions must be migrated first.
 */
async function openTarget(config: Config, dryRun: boolean): Promise<DatabaseHandle | null> {
  const { database } = config;
  if (dryRun && database.kind === 'sqlite' && database.file !== ':memory:' && !existsSync(database.file)) return null;
  const handle = openDatabase(database);
  try {
    if (!dryRun) {
      await migrate(handle);
      return handle;
    }
    const { pending, total } = await pendingMigrations(handle);
    if (pending.length === 0) return handle;
    await handle.close();
    if (pending.length === total) return null;
    throw new OidcConnectError('BAD_REQUEST', `${database.display} needs migrations (${pending.join(', ')}); run "npx oidc-connect migrate" first, since a dry run writes nothing.`);
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

const EMPTY_TARGETS: ImportTargets = { byDjangoId: new Map(), byUsername: new Map(), byEmail: new Map() };

function keysOf(users: DjangoUser[]) {
  return {
    djangoIds: users.map((u) => u.id),
    usernames: users.map((u) => u.username),
    emailKeys: users.map((u) => normalizeEmail(u.email)).filter(Boolean),
  };
}

/** Marks users that mozilla-django-oidc created: unusable password, username derived from the email. */
function withProviderUsername(user: Omit<DjangoUser, 'providerUsername'>): DjangoUser {
  if (!user.password.startsWith('!') || user.email === '') return user;
  const algo = PROVIDER_ALGOS.find((a) => baseUsername(a, { email: user.email, sub: '' }) === user.username);
  return algo ? { ...user, providerUsername: algo } : user;
}

/** Lines each conflict section shows without --verbose. */
const SHOWN = 20;

/** One section of the report: every line with --verbose; otherwise its first `limit` lines (maybe none) and its count. */
class Section {
  count = 0;
  readonly lines: string[] = [];
  readonly #title: string;
  readonly #limit: number;

  constructor(title: string, limit: number) {
    this.#title = title;
    this.#limit = limit;
  }

  add(line: string): void {
    this.count++;
    if (this.lines.length < this.#limit) this.lines.push(line);
  }

  print(out: (line: string) => void): void {
    if (this.lines.length === 0) return;
    out(`\n${this.#title} (${this.count}):`);
    for (const line of this.lines) out(`  ${line}`);
    if (this.count > this.lines.length) out(`  … and ${this.count - this.lines.length} more (--verbose lists them all)`);
  }
}

/**
 * By default the report is the counts and what needs the operator (skipped users, passwords to reset,
 * unreachable usernames), so that its summary does not scroll away behind one line per user;
 * --verbose lists everyone.
 */
class Report {
  readonly created: Section;
  readonly updated: Section;
  readonly skipped: Section;
  /** Accounts here that a Django user would merge into with the operator's word (--merge-into). */
  readonly toConfirm: string[] = [];
  readonly mustReset: Section;
  readonly noPassword: Section;
  /** Imported usernames that no one can type into the login form. */
  readonly unreachable: Section;
  readonly providerAlgos = new Set<string>();
  unchanged = 0;
  readonly #verbose: boolean;

  constructor(dryRun: boolean, verbose: boolean) {
    this.#verbose = verbose;
    const all = verbose ? Infinity : 0;
    const conflicts = verbose ? Infinity : SHOWN;
    this.created = new Section(dryRun ? 'Would create' : 'Created', all);
    this.updated = new Section(dryRun ? 'Would update' : 'Updated', all);
    this.skipped = new Section('Skipped, never merged', conflicts);
    this.mustReset = new Section('Must reset their password (imported without one)', conflicts);
    this.noPassword = new Section('No local password: they sign in through the provider', all);
    this.unreachable = new Section('The login form cannot reach these usernames (rename them in Django, then import again)', conflicts);
  }

  add(plan: ImportPlan): void {
    const who = `${plan.django.username} (Django #${plan.django.id})`;
    if (plan.action === 'skip') {
      this.skipped.add(`${who}: ${plan.reason}`);
      if (plan.confirm !== undefined) this.toConfirm.push(plan.confirm);
      return;
    }
    if (plan.action === 'create') this.created.add(who);
    else if (plan.action === 'update') {
      const here = plan.username === plan.django.username ? '' : `, was "${plan.username}" here`;
      this.updated.add(`${who}${here}: ${plan.changes.length > 0 ? plan.changes.join(', ') : 'linked to its Django user'}`);
    } else this.unchanged++;
    const unreachable = unreachableReason(plan.django.username);
    if (unreachable) this.unreachable.add(`${JSON.stringify(plan.django.username)} (Django #${plan.django.id}): ${unreachable}`);

    const note = plan.password;
    if (note.kind === 'must-reset') this.mustReset.add(`${who}: ${note.algorithm} hash, too weak to keep`);
    else if (note.kind === 'too-costly') this.mustReset.add(`${who}: ${note.algorithm} hash asking for more work than this app checks (${note.reason})`);
    else if (note.kind === 'corrupt') this.mustReset.add(`${who}: unreadable hash (${note.reason})`);
    else if (note.kind === 'unusable') {
      const provider = plan.django.providerUsername;
      if (provider) this.providerAlgos.add(provider);
      this.noPassword.add(`${who}${provider ? `: created by mozilla-django-oidc (${provider} username of ${plan.django.email})` : ''}`);
    }
  }

  print(out: (line: string) => void, context: { dryRun: boolean; emailsUnverified: boolean; usernameAlgos: UsernameAlgo[]; unusedMergeInto: string[] }): void {
    this.created.print(out);
    this.updated.print(out);
    this.skipped.print(out);
    if (this.toConfirm.length > 0) {
      out(`To merge them anyway, once you know each is the same person, run again with --merge-into=${this.toConfirm.join(',')}`);
    }
    this.mustReset.print(out);
    this.noPassword.print(out);
    this.unreachable.print(out);
    out('');
    for (const name of context.unusedMergeInto) {
      out(`--merge-into=${name}: no Django user needed it (there is no such account here, or it was merged before).`);
    }
    out(context.emailsUnverified
      ? 'Emails were imported as unverified (--emails-unverified), except those of accounts mozilla-django-oidc created, which came from the provider: only those link to a provider login by email.'
      : 'Emails were imported as verified, since they come from your own database: a provider login with the same verified email lands on the imported account.');
    for (const algo of this.providerAlgos) {
      if (!context.usernameAlgos.includes(algo as UsernameAlgo)) {
        out(`The accounts mozilla-django-oidc created have ${algo} usernames: set OIDC_USERNAME_ALGO=${algo} so that new provider users get usernames of the same form.`);
      }
    }
    if (!this.#verbose && this.created.count + this.updated.count + this.noPassword.count > 0) {
      out('--verbose lists every user created, updated, or without a local password.');
    }
    out(`${context.dryRun ? 'Dry run, nothing written: ' : ''}${this.created.count} created, ${this.updated.count} updated, ${this.unchanged} unchanged, ${this.skipped.count} skipped; ${this.mustReset.count} must reset their password; ${this.noPassword.count} without a local password.`);
  }
}

/** Why the login form cannot reach an imported username, if it cannot (Django's own form strips spaces too). */
function unreachableReason(username: string): string | undefined {
  if (loginFormReaches(username)) return undefined;
  if (username.trim() === '') return 'empty, or only spaces';
  if (username.trim() !== username) return 'spaces around it, which the login form trims';
  return 'longer than the 150 characters the login form takes';
}

/** A bar redrawn in place on a terminal; elsewhere a line at every tenth of the way. */
class Progress {
  #done = 0;
  #lastTenth = 0;
  readonly #stream: NodeJS.WriteStream;
  readonly #total: number;

  constructor(stream: NodeJS.WriteStream, total: number) {
    this.#stream = stream;
    this.#total = total;
  }

  advance(count: number): void {
    this.#done += count;
    const share = this.#total === 0 ? 1 : this.#done / this.#total;
    if (this.#stream.isTTY) {
      const width = 30;
      const filled = Math.round(share * width);
      this.#stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${this.#done}/${this.#total} users`);
      return;
    }
    const tenth = Math.floor(share * 10);
    if (tenth > this.#lastTenth) {
      this.#lastTenth = tenth;
      this.#stream.write(`import-django: ${this.#done}/${this.#total} users (${Math.round(share * 100)}%)\n`);
    }
  }

  done(): void {
    if (this.#stream.isTTY && this.#done > 0) this.#stream.write('\n');
  }
}
