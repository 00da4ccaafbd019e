import { DEFAULT_KEY_FILE } from './keygen.ts';

/** `oidc-connect --help`: one line or two per command. */
export const USAGE = `Usage: oidc-connect <command> [options]    (oidc-connect <command> --help: its options)

Commands:
  serve                         start the app (the same as npm start)
  migrate                       apply database migrations
  createsuperuser [--username U --email E] [--no-input]
                                create an admin; with --no-input the password comes
                                from OIDC_CONNECT_SUPERUSER_PASSWORD
  dev-idp                       run the development OpenID provider alone
  check                         validate the configuration and the provider's discovery
  keygen [--out ${DEFAULT_KEY_FILE}] [--alg RS256|ES256]
                                a key pair for private_key_jwt: writes the private key
                                (never over a file), prints the public key set to register
  import-django <django-database-url> [--dry-run] [--only-active] [--strict] [--emails-unverified]
                [--merge-into=USERNAME,…] [--verbose]
                                import a Django app's users, groups and password hashes
                                (sqlite:/path/db.sqlite3 or postgres://…); see docs/coming-from-django.md
  audit export --since DATE [--until DATE] [--format jsonl|csv]
                                the audit log to stdout, for a SIEM; see docs/audit-export.md`;

/** `oidc-connect <command> --help`, for the commands that take options: what each one does. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  keygen: `Usage: oidc-connect keygen [--out FILE] [--alg RS256|ES256]

Makes a key pair for private_key_jwt (OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt). The private key goes
to a new PEM file, readable by its owner only (mode 0600); an existing file is never overwritten. Then it
prints the file, the variables to set, and the public key set to register at the provider, as the app
serves it at $APP_URL/.well-known/jwks.json (its kid is the key's RFC 7638 thumbprint).

Options:
  --out FILE      where the private key goes; default ${DEFAULT_KEY_FILE} (./data is kept out of git)
  --alg ALG       RS256 (default; an RSA key of 2048 bits, which also signs PS256 where a provider
                  asks for it) or ES256 (an EC P-256 key)
  -h, --help      this help`,

  createsuperuser: `Usage: oidc-connect createsuperuser [--username U] [--email E] [--no-input]

Creates a staff superuser with a local password, as Django's createsuperuser does, in the database of
DATABASE_URL (migrated first). In a terminal it asks for what the options do not give, and for the
password twice, hidden. The password must pass Django's default validators: at least 8 characters, not
a common password, not entirely numeric, not too similar to the username or email. A refused password
is asked for again (or kept, if you answer y to "Bypass password validation and create user anyway?").

Options:
  --username U    the username (letters, digits and @ . + - _; at most 150)
  --email E       the email address (counts as verified); may be empty
  --no-input      ask nothing, for scripts: --username is required, and the password comes from
                  OIDC_CONNECT_SUPERUSER_PASSWORD; a refused password ends the run with one line
  -h, --help      this help`,

  audit: `Usage: oidc-connect audit export --since DATE [--until DATE] [--format jsonl|csv]

Writes the audit log's events (sign-ins, failures, logouts, admin actions…) with --since <= time < --until
to stdout, oldest first, one event per line, for a SIEM or an archive. It reads the database of DATABASE_URL
page by page, so memory stays flat however many events there are, and waits for a slow reader. On a
terminal, stderr shows the progress; otherwise stderr stays empty. Fields: id, time (ISO 8601, UTC), type,
method, error_code, user_id, username, actor_id, action, detail, ip, user_agent, count, grouped.
See docs/audit-export.md.

Options:
  --since DATE    the first instant included (required): an ISO date, 2026-12-01 (midnight UTC), or a
                  date-time with its zone, 2026-12-01T08:00:00Z or 2026-12-01T09:00:00+01:00
  --until DATE    the first instant left out (same forms); default: everything since --since
  --format F      jsonl (default: one JSON object per line) or csv (RFC 4180, a header line, CRLF)
  -h, --help      this help

Bad dates or formats exit 2 with one line naming the option.`,

  'import-django': `Usage: oidc-connect import-django <django-database-url> [options]

Moves a Django app's users (auth_user), their groups and their password hashes into the database of
DATABASE_URL (migrated first), so that they sign in as before. The Django database is only read.
Running it again updates what changed in Django. See docs/coming-from-django.md.

  <django-database-url>     sqlite:/path/to/db.sqlite3 or postgres://user:password@host:5432/name

Options:
  --dry-run                 print the report and write nothing, not even a migration
  --only-active             import only the users with is_active
  --strict                  exit 1 when a user was skipped; the exit code is 0 otherwise
  --emails-unverified       import emails as unverified, so that they never link a provider sign-in by
                            email (except those of accounts mozilla-django-oidc created)
  --merge-into=U1,U2        accounts here, by their username here, that Django users may be merged into
                            although their email is unverified or missing, or they sign in through a
                            provider. The report names each such account; check it is the same person
  --verbose                 list every user created, updated or without a local password, and every
                            line of each section; without it the report is the counts, plus at most 20
                            lines each of skipped users, passwords to reset and unreachable usernames
  -h, --help                this help`,
};
