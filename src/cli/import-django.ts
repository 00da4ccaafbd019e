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
  const report = new Report();
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
  return options.strict && report.skipped.length > 0 ? 1 : 0;
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

class Report {
  readonly created: string[] = [];
  readonly updated: string[] = [];
  readonly skipped: string[] = [];
  /** Accounts here that a Django user would merge into with the operator's word (--merge-into). */
  readonly toConfirm: string[] = [];
  readonly mustReset: string[] = [];
  readonly noPassword: string[] = [];
  /** Imported usernames that no one can type into the login form. */
  readonly unreachable: string[] = [];
  readonly providerAlgos = new Set<string>();
  unchanged = 0;

  add(plan: ImportPlan): void {
    const who = `${plan.django.username} (Django #${plan.django.id})`;
    if (plan.action === 'skip') {
      this.skipped.push(`${who}: ${plan.reason}`);
      if (plan.confirm !== undefined) this.toConfirm.push(plan.confirm);
      return;
    }
    if (plan.action === 'create') this.created.push(who);
    else if (plan.action === 'update') {
      const here = plan.username === plan.django.username ? '' : `, was "${plan.username}" here`;
      this.updated.push(`${who}${here}: ${plan.changes.length > 0 ? plan.changes.join(', ') : 'linked to its Django user'}`);
    } else this.unchanged++;
    const unreachable = unreachableReason(plan.django.username);
    if (unreachable) this.unreachable.push(`${JSON.stringify(plan.django.username)} (Django #${plan.django.id}): ${unreachable}`);

    const note = plan.password;
    if (note.kind === 'must-reset') this.mustReset.push(`${who}: ${note.algorithm} hash, too weak to keep`);
    else if (note.kind === 'too-costly') this.mustReset.push(`${who}: ${note.algorithm} hash asking for more work than this app checks (${note.reason})`);
    else if (note.kind === 'corrupt') this.mustReset.push(`${who}: unreadable hash (${note.reason})`);
    else if (note.kind === 'unusable') {
      const provider = plan.django.providerUsername;
      if (provider) this.providerAlgos.add(provider);
      this.noPassword.push(`${who}${provider ? `: created by mozilla-django-oidc (${provider} username of ${plan.django.email})` : ''}`);
    }
  }

  print(out: (line: string) => void, context: { dryRun: boolean; emailsUnverified: boolean; usernameAlgos: UsernameAlgo[]; unusedMergeInto: string[] }): void {
    const section = (title: string, lines: string[]) => {
      if (lines.length === 0) return;
      out(`\n${title} (${lines.length}):`);
      for (const line of lines) out(`  ${line}`);
    };
    section(context.dryRun ? 'Would create' : 'Created', this.created);
    section(context.dryRun ? 'Would update' : 'Updated', this.updated);
    section('Skipped, never merged', this.skipped);
    if (this.toConfirm.length > 0) {
      out(`To merge them anyway, once you know each is the same person, run again with --merge-into=${this.toConfirm.join(',')}`);
    }
    section('Must reset their password (imported without one)', this.mustReset);
    section('No local password: they sign in through the provider', this.noPassword);
    section('The login form cannot reach these usernames (rename them in Django, then import again)', this.unreachable);
    out('');
    for (const name of context.unusedMergeInto) {
      out(`--merge-into=${name}: no Django user needed it (there is no such account here, or it was merged before).`);
    }
    out(context.emailsUnverified
      ? 'Emails were imported as unverified (--emails-unverified), except those of accounts mozilla-django-oidc created, which came from the provider: only those link to a provider login by email.'
      : 'Emails were imported as verified, since they come from your own database: a provider login with the same verified email lands on the imported account.');
    for (const algo of this.providerAlgos) {
      if (!context.usernameAlgos.includes(algo as UsernameAlgo)) {
        out(`Those accounts have ${algo} usernames: set OIDC_USERNAME_ALGO=${algo} so that new provider users get usernames of the same form.`);
      }
    }
    out(`${context.dryRun ? 'Dry run, nothing written: ' : ''}${this.created.length} created, ${this.updated.length} updated, ${this.unchanged} unchanged, ${this.skipped.length} skipped; ${this.mustReset.length} must reset their password.`);
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
