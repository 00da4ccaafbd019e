import { DJANGO_PREFIX, isDjangoHash, parseDjangoHash } from './django-hashers.ts';
import { normalizeEmail } from './email.ts';
import type { User } from '../db/schema.ts';

/** One row of Django's auth_user, with its group names. */
export interface DjangoUser {
  id: number;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  /** auth_user.password as Django stores it. */
  password: string;
  isActive: boolean;
  isStaff: boolean;
  isSuperuser: boolean;
  dateJoined: number;
  lastLogin: number | null;
  groups: string[];
  /**
   * Set when the username is the one mozilla-django-oidc derives from the email and the password
   * is unusable: the account was created at a provider login, so its email came from the provider.
   */
  providerUsername?: string;
}

/** The users columns an import writes. */
export type ImportedValues = Pick<User,
  'username' | 'email' | 'email_key' | 'email_verified' | 'first_name' | 'last_name' | 'password'
  | 'is_active' | 'is_staff' | 'is_superuser' | 'date_joined' | 'last_login'>;

/** A user here that a Django user may land on. */
export type ImportTarget = User & { djangoId: number | null; groups: string[]; hasIdentity: boolean };

export interface ImportTargets {
  byDjangoId: Map<number, ImportTarget>;
  byUsername: Map<string, ImportTarget>;
  /** By normalised email (users.email_key). */
  byEmail: Map<string, ImportTarget[]>;
}

export interface ImportOptions {
  /** Imported emails count as verified (the default): they come from the operator's own database. */
  emailsVerified: boolean;
  /**
   * Usernames here of accounts the operator confirmed (`--merge-into`): a Django user may be merged
   * into them although their email is unverified or missing, or they sign in through a provider.
   */
  mergeInto: ReadonlySet<string>;
}

export type PasswordNote =
  | { kind: 'usable'; algorithm: string }
  /** A password was set or rehashed here since the last import: it stays. */
  | { kind: 'kept' }
  | { kind: 'unusable' }
  | { kind: 'must-reset'; algorithm: string }
  /** Above HASH_LIMITS (django-hashers.ts): never stored, so never checked at sign-in. */
  | { kind: 'too-costly'; algorithm: string; reason: string }
  | { kind: 'corrupt'; reason: string };

export type ImportPlan =
  | { action: 'create'; django: DjangoUser; values: ImportedValues; password: PasswordNote }
  | {
    action: 'update';
    django: DjangoUser;
    userId: number;
    username: string;
    /** Only the columns that change. */
    set: Partial<ImportedValues>;
    changes: string[];
    groups: boolean;
    mapping: boolean;
    password: PasswordNote;
  }
  | { action: 'unchanged'; django: DjangoUser; userId: number; username: string; password: PasswordNote }
  /** `confirm`: the username here that `--merge-into` would have to name for this merge. */
  | { action: 'skip'; django: DjangoUser; reason: string; confirm?: string };

/**
 * Decides, for each Django user in Django id order, whether to create, update or skip, without
 * writing anything (so `--dry-run` and a real run decide the same). It remembers the usernames and
 * emails that earlier users of this run took, so that two Django users are never merged: the
 * first one (by Django id) wins and the others are skipped with the reason.
 */
export class ImportPlanner {
  readonly #options: ImportOptions;
  readonly #usernames = new Map<string, number>();
  readonly #emails = new Map<string, number>();
  readonly #confirmed = new Set<string>();

  constructor(options: ImportOptions) {
    this.#options = options;
  }

  /** The `--merge-into` names that no Django user was merged into (yet), to tell the operator. */
  unusedMergeInto(): string[] {
    return [...this.#options.mergeInto].filter((name) => !this.#confirmed.has(name));
  }

  plan(django: DjangoUser, targets: ImportTargets): ImportPlan {
    const key = normalizeEmail(django.email);
    const skip = (reason: string): ImportPlan => ({ action: 'skip', django, reason });

    const firstWithEmail = key ? this.#emails.get(key) : undefined;
    if (firstWithEmail !== undefined) return skip(`the email ${django.email} is also on Django user #${firstWithEmail}, imported first`);
    const firstWithUsername = this.#usernames.get(django.username);
    if (firstWithUsername !== undefined) return skip(`the username is also taken by Django user #${firstWithUsername}, imported first`);

    let target = targets.byDjangoId.get(django.id);
    const byUsername = targets.byUsername.get(django.username);
    const byEmail = key ? (targets.byEmail.get(key) ?? []) : [];
    if (target) {
      if (byUsername && byUsername.id !== target.id) return skip(`the new username is taken here by another user (#${byUsername.id})`);
      const other = byEmail.find((u) => u.id !== target!.id);
      if (other) return skip(`the new email ${django.email} belongs to another user here (#${other.id})`);
    } else {
      if (byEmail.length > 1) return skip(`${byEmail.length} users here have the email ${django.email}; linking to one of them would be a guess`);
      const [withEmail] = byEmail;
      if (byUsername && withEmail && byUsername.id !== withEmail.id) {
        return skip(`the username belongs to user #${byUsername.id} here and the email to user #${withEmail.id}`);
      }
      if (byUsername && key && byUsername.email_key && byUsername.email_key !== key) {
        return skip(`the username is taken here by a user with another email (${byUsername.email})`);
      }
      target = byUsername ?? withEmail;
      if (target?.djangoId != null) return skip(`user #${target.id} here was imported from Django user #${target.djangoId}`);
      // A merge hands this account the Django user's username, password and rights. Anyone can make an
      // account with an email they do not own through a provider that does not verify it, so only an
      // account whose email is verified, and that no provider identity can sign in to, is merged unasked.
      const doubts = target ? mergeDoubts(target) : [];
      if (target && doubts.length > 0) {
        if (!this.#options.mergeInto.has(target.username)) {
          return {
            action: 'skip', django, confirm: target.username,
            reason: `matches user #${target.id} "${target.username}" here, but ${doubts.join(' and ')}: merged only with --merge-into=${target.username}, once you know they are the same person`,
          };
        }
        this.#confirmed.add(target.username);
      }
    }

    const { value: hash, note } = this.#password(django.password, target);
    const verified: 0 | 1 = this.#options.emailsVerified || django.providerUsername !== undefined ? 1 : 0;
    const values: ImportedValues = {
      username: django.username,
      email: django.email,
      email_key: key,
      email_verified: key ? verified : 0,
      first_name: django.firstName,
      last_name: django.lastName,
      password: hash,
      is_active: django.isActive ? 1 : 0,
      is_staff: django.isStaff ? 1 : 0,
      is_superuser: django.isSuperuser ? 1 : 0,
      date_joined: django.dateJoined,
      last_login: django.lastLogin,
    };
    this.#usernames.set(django.username, django.id);
    if (key) this.#emails.set(key, django.id);
    if (!target) return { action: 'create', django, values, password: note };

    // Merge with what is here: the earliest join, the latest login, and a verification that an
    // unchanged email keeps.
    values.date_joined = Math.min(target.date_joined, values.date_joined);
    if (target.last_login !== null && (values.last_login === null || target.last_login > values.last_login)) values.last_login = target.last_login;
    if (key === target.email_key && target.email_verified) values.email_verified = 1;
    const set: Partial<ImportedValues> = {};
    for (const column of Object.keys(values) as Array<keyof ImportedValues>) {
      if (values[column] !== target[column]) (set as Record<string, unknown>)[column] = values[column];
    }
    const groups = !sameSet(target.groups, django.groups);
    const mapping = target.djangoId !== django.id;
    const changes = [...Object.keys(set).filter((c) => c !== 'email_key'), ...(groups ? ['groups'] : [])];
    if (changes.length === 0 && !mapping) {
      return { action: 'unchanged', django, userId: target.id, username: target.username, password: note };
    }
    return { action: 'update', django, userId: target.id, username: target.username, set, changes, groups, mapping, password: note };
  }

  /** The stored form of Django's hash, unless a password was set or rehashed here since. */
  #password(encoded: string, target: ImportTarget | undefined): { value: string | null; note: PasswordNote } {
    if (target?.password != null && !isDjangoHash(target.password)) return { value: target.password, note: { kind: 'kept' } };
    const parsed = parseDjangoHash(encoded);
    switch (parsed.kind) {
      case 'usable':
        return { value: DJANGO_PREFIX + encoded, note: { kind: 'usable', algorithm: parsed.algorithm } };
      case 'unusable':
        return { value: null, note: { kind: 'unusable' } };
      case 'weak':
        return { value: null, note: { kind: 'must-reset', algorithm: parsed.algorithm } };
      case 'too-costly':
        return { value: null, note: { kind: 'too-costly', algorithm: parsed.algorithm, reason: parsed.reason } };
      case 'corrupt':
        return { value: null, note: { kind: 'corrupt', reason: parsed.reason } };
    }
  }
}

/** Why merging into `target` needs the operator's word; none for a verified email and no provider identity. */
function mergeDoubts(target: ImportTarget): string[] {
  const doubts: string[] = [];
  if (!target.email_key) doubts.push('it has no email');
  else if (!target.email_verified) doubts.push(`its email ${target.email} is not verified`);
  if (target.hasIdentity) doubts.push('it signs in through a provider');
  return doubts;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((name) => set.has(name));
}
