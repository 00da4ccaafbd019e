import { chmodSync } from 'node:fs';

/** What oidc-provider stores: a JSON object per model instance (token, session, grant, ...). */
export type AdapterPayload = Record<string, unknown>;

/** The adapter interface oidc-provider calls, one instance per model name. */
export interface OidcAdapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface SqliteStore {
  /** The factory for oidc-provider's `adapter` option. */
  adapter(model: string): OidcAdapter;
  close(): void;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS oidc_payload (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    grant_id TEXT,
    user_code TEXT,
    uid TEXT,
    expires_at INTEGER,
    consumed_at INTEGER,
    PRIMARY KEY (model, id)
  );
  CREATE INDEX IF NOT EXISTS oidc_payload_grant ON oidc_payload (model, grant_id);
  CREATE INDEX IF NOT EXISTS oidc_payload_uid ON oidc_payload (model, uid);
  CREATE INDEX IF NOT EXISTS oidc_payload_user_code ON oidc_payload (model, user_code);
  CREATE INDEX IF NOT EXISTS oidc_payload_expiry ON oidc_payload (expires_at);
`;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

interface Row {
  payload: string;
  consumed_at: number | null;
}

/**
 * oidc-provider's storage over node:sqlite (built into Node 24, so nothing is compiled at install).
 * Keeping grants, sessions and refresh tokens in a file means restarting the development provider
 * does not sign everybody out or break the app's refresh tokens.
 */
export function openSqliteStore(path: string): SqliteStore {
  // Fetched here, not imported: a static import of node:sqlite fails to link on Node 20, before the
  // package's version check can say which Node it needs (src/node-version.ts).
  const db = new (process.getBuiltinModule('node:sqlite').DatabaseSync)(path);
  // The file holds refresh tokens and sessions: readable by its owner only.
  if (path !== ':memory:') chmodSync(path, 0o600);
  // WAL with synchronous=NORMAL: each of a login's ~8 writes no longer waits on fsyncs (13-15 ms
  // of a login's time went there); a crash may lose the last few writes, fine for development.
  db.exec('PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  db.exec(SCHEMA);

  const statements = {
    upsert: db.prepare(`
      INSERT INTO oidc_payload (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at,
        consumed_at = NULL`),
    find: db.prepare(`SELECT payload, consumed_at FROM oidc_payload
      WHERE model = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)`),
    findByUid: db.prepare(`SELECT payload, consumed_at FROM oidc_payload
      WHERE model = ? AND uid = ? AND (expires_at IS NULL OR expires_at > ?)`),
    findByUserCode: db.prepare(`SELECT payload, consumed_at FROM oidc_payload
      WHERE model = ? AND user_code = ? AND (expires_at IS NULL OR expires_at > ?)`),
    consume: db.prepare('UPDATE oidc_payload SET consumed_at = ? WHERE model = ? AND id = ?'),
    destroy: db.prepare('DELETE FROM oidc_payload WHERE model = ? AND id = ?'),
    revokeByGrantId: db.prepare('DELETE FROM oidc_payload WHERE model = ? AND grant_id = ?'),
    purgeExpired: db.prepare('DELETE FROM oidc_payload WHERE expires_at IS NOT NULL AND expires_at <= ?'),
  };

  statements.purgeExpired.run(nowSeconds());
  let writesSincePurge = 0;

  const toPayload = (row: unknown): AdapterPayload | undefined => {
    if (!row) return undefined;
    const { payload, consumed_at: consumedAt } = row as Row;
    const parsed = JSON.parse(payload) as AdapterPayload;
    // oidc-provider detects replayed authorization codes and rotated refresh tokens by `consumed`.
    return consumedAt === null ? parsed : { ...parsed, consumed: consumedAt };
  };

  function adapter(model: string): OidcAdapter {
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? nowSeconds() + expiresIn : null;
        statements.upsert.run(model, id, JSON.stringify(payload), text(payload['grantId']),
          text(payload['userCode']), text(payload['uid']), expiresAt);
        // Expired rows are invisible to find(); remove them now and then so the file stays small.
        if (++writesSincePurge >= 500) {
          writesSincePurge = 0;
          statements.purgeExpired.run(nowSeconds());
        }
      },
      async find(id) {
        return toPayload(statements.find.get(model, id, nowSeconds()));
      },
      async findByUid(uid) {
        return toPayload(statements.findByUid.get(model, uid, nowSeconds()));
      },
      async findByUserCode(userCode) {
        return toPayload(statements.findByUserCode.get(model, userCode, nowSeconds()));
      },
      async consume(id) {
        statements.consume.run(nowSeconds(), model, id);
      },
      async destroy(id) {
        statements.destroy.run(model, id);
      },
      async revokeByGrantId(grantId) {
        statements.revokeByGrantId.run(model, grantId);
      },
    };
  }

  return {
    adapter,
    close() {
      if (db.isOpen) db.close();
    },
  };
}
