import type { Db } from '../../src/db/index.ts';
import type { NewUser } from '../../src/db/schema.ts';

/**
 * Inserts `count` users named user000001… (email user000001@example.com), in one transaction of
 * multi-row INSERTs, without passwords (hashing 100,000 scrypt passwords would take minutes).
 * Returns the time it took in ms.
 */
export async function seedUsers(db: Db, count: number, options: { prefix?: string; batch?: number; now?: number } = {}): Promise<number> {
  const started = performance.now();
  const prefix = options.prefix ?? 'user';
  const batch = options.batch ?? 500;
  const now = options.now ?? Date.now();
  const width = String(count).length;
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < count; start += batch) {
      const rows: NewUser[] = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const n = String(i + 1).padStart(width, '0');
        rows.push({
          username: `${prefix}${n}`,
          email: `${prefix}${n}@example.com`,
          first_name: 'Seed',
          last_name: n,
          password: null,
          is_active: 1,
          is_staff: 0,
          is_superuser: 0,
          last_login: null,
          date_joined: now - i * 1000,
        });
      }
      await trx.insertInto('users').values(rows).execute();
    }
  });
  return performance.now() - started;
}

export interface SeedEvent {
  type: 'login_success' | 'login_failure';
  method: string;
  errorCode?: string;
  time: number;
  userId?: number | null;
  username?: string;
}

/** Inserts audit events directly (batched, one transaction): dashboards need weeks of history. */
export async function seedEvents(db: Db, events: SeedEvent[], batch = 1000): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < events.length; start += batch) {
      await trx.insertInto('audit_log').values(events.slice(start, start + batch).map((e) => ({
        time: e.time,
        type: e.type,
        method: e.method,
        error_code: e.errorCode ?? null,
        user_id: e.userId ?? null,
        username: e.username ?? '',
        actor_id: null,
        ip: '198.51.100.7',
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
      }))).execute();
    }
  });
}

const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy'];

/**
 * A month (or `days`) of plausible sign-in traffic ending now: weekday peaks, two providers' worth of methods,
 * a trickle of wrong passwords, and a burst of failures `spikeDaysAgo` days ago (a password-
 * spraying attempt, say). Deterministic, so screenshots don't change from run to run.
 */
export function monthOfTraffic(options: { now?: number; methods: string[]; scale?: number; spikeDaysAgo?: number; days?: number }): SeedEvent[] {
  const now = options.now ?? Date.now();
  const scale = options.scale ?? 1;
  const events: SeedEvent[] = [];
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const DAY = 86_400_000;
  const today = Math.floor(now / DAY);
  for (let ago = (options.days ?? 30) - 1; ago >= 0; ago--) {
    const day = today - ago;
    const weekday = new Date(day * DAY).getUTCDay();
    const busy = weekday === 0 || weekday === 6 ? 0.45 : 1;
    // Today's events stay before `now`: whole hours would put some in the future just after midnight.
    const hours = ago === 0 ? Math.max(1 / 60, (now - day * DAY) / 3_600_000) : 24;
    const at = () => day * DAY + Math.floor(random() * hours * 3_600_000);
    const someone = () => PEOPLE[Math.floor(random() * PEOPLE.length)]!;
    options.methods.forEach((method, i) => {
      const count = Math.round((i === 0 ? 34 : 12) * busy * scale * (0.8 + random() * 0.4) * (ago === 0 ? hours / 24 : 1));
      for (let n = 0; n < count; n++) events.push({ type: 'login_success', method, time: at(), username: someone() });
    });
    const failures = Math.round((2 + random() * 4) * scale);
    for (let n = 0; n < failures; n++) events.push({ type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: at(), username: someone() });
    if (random() < 0.3) events.push({ type: 'login_failure', method: options.methods.at(-1)!, errorCode: 'STATE_INVALID', time: at() });
    if (ago === options.spikeDaysAgo) {
      const sprayed = ['admin', 'root', 'test', 'administrator', 'user', 'guest', ...PEOPLE];
      for (let n = 0; n < 70 * scale; n++) {
        events.push({ type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: at(), username: sprayed[n % sprayed.length]! });
      }
      for (let n = 0; n < 18 * scale; n++) {
        events.push({ type: 'login_failure', method: 'local', errorCode: 'TOO_MANY_ATTEMPTS', time: at(), username: sprayed[n % 6]! });
      }
    }
    if (ago === 11) for (let n = 0; n < 6; n++) events.push({ type: 'login_failure', method: options.methods[0]!, errorCode: 'PROVIDER_TIMEOUT', time: at() });
  }
  return events.sort((a, b) => a.time - b.time);
}
