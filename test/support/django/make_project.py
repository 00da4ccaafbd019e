"""Creates a real Django project and its database, the way the tutorial's users have one.

    /usr/bin/python3 make_project.py DIR [DATABASE_URL]

`django-admin startproject`, `manage.py migrate`, `manage.py createsuperuser`, then users made with
Django's own make_password() for each hasher, a group, and a user as mozilla-django-oidc creates one
at a provider login. DATABASE_URL is sqlite:/path or postgres://user:password@host:port/name (default:
DIR/db.sqlite3). Prints JSON to stdout: {"users": [{"username", "email", "password", "hasher", ...}]}.

The superuser's password uses Django's default hasher with its default parameters. The other
hashers use low-cost subclasses (same algorithm names, so the parameters travel in each hash), to
keep the test fast. Debian 12's Django (3.2) has no scrypt hasher; Django 4.0+'s is used when present,
otherwise an equivalent with the same encoding is defined here.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
from urllib.parse import unquote, urlsplit

project_dir = os.path.abspath(sys.argv[1])
database_url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:{os.path.join(project_dir, 'db.sqlite3')}"
python = sys.executable

HASHERS_PY = '''
import base64, hashlib
from django.contrib.auth import hashers
from django.utils.crypto import constant_time_compare


class FastPBKDF2SHA1(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastArgon2(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 1024
    parallelism = 2


class FastBCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCrypt(hashers.BCryptPasswordHasher):
    rounds = 4


if hasattr(hashers, "ScryptPasswordHasher"):
    class FastScrypt(hashers.ScryptPasswordHasher):
        work_factor = 2**10
else:
    class FastScrypt(hashers.BasePasswordHasher):
        """Django 4.0+'s ScryptPasswordHasher encoding: scrypt$N$salt$r$p$base64(64-byte key)."""
        algorithm = "scrypt"
        work_factor = 2**10
        block_size = 8
        parallelism = 5

        def encode(self, password, salt, n=None, r=None, p=None):
            n, r, p = n or self.work_factor, r or self.block_size, p or self.parallelism
            key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
            return "%s$%d$%s$%d$%d$%s" % (self.algorithm, n, salt, r, p, base64.b64encode(key).decode("ascii"))

        def decode(self, encoded):
            algorithm, n, salt, r, p, hash_ = encoded.split("$", 6)
            return {"algorithm": algorithm, "work_factor": int(n), "salt": salt, "block_size": int(r), "parallelism": int(p), "hash": hash_}

        def verify(self, password, encoded):
            d = self.decode(encoded)
            return constant_time_compare(encoded, self.encode(password, d["salt"], d["work_factor"], d["block_size"], d["parallelism"]))

        def safe_summary(self, encoded):
            return {}
'''


def databases_setting(url):
    if url.startswith("sqlite:"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url[len("sqlite:"):]}
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


def manage(*args, env=None, stdin=None):
    subprocess.run([python, "manage.py", *args], cwd=project_dir, check=True, input=stdin, text=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})


os.makedirs(project_dir, exist_ok=True)
subprocess.run([python, "-m", "django", "startproject", "mysite", project_dir], check=True)
with open(os.path.join(project_dir, "mysite", "hashers.py"), "w") as f:
    f.write(HASHERS_PY)
with open(os.path.join(project_dir, "mysite", "settings.py"), "a") as f:
    f.write(f"\nDATABASES = {{'default': {databases_setting(database_url)!r}}}\n")
    f.write("PASSWORD_HASHERS = " + repr([
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "mysite.hashers.FastPBKDF2SHA1",
        "mysite.hashers.FastArgon2",
        "mysite.hashers.FastBCryptSHA256",
        "mysite.hashers.FastBCrypt",
        "mysite.hashers.FastScrypt",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]) + "\n")

manage("migrate", "--no-input")
manage("createsuperuser", "--no-input", "--username", "admin", "--email", "admin@example.com",
       env={"DJANGO_SUPERUSER_PASSWORD": "admin password 1"})

# Everything else through the ORM and make_password, in one `manage.py shell` run.
USERS = [
    # username, email, password, hasher (None: unusable), extra
    ("pbkdf2", "pbkdf2@example.com", "pässwörd ☃ sha256", "pbkdf2_sha256", {"first_name": "Pat", "last_name": "Bkdf"}),
    ("pbkdf2sha1", "sha1user@example.com", "sha1 password", "pbkdf2_sha1", {}),
    ("argon", "argon@example.com", "argon2 password", "argon2", {"is_staff": True, "groups": ["editors"]}),
    ("bcryptsha", "bcryptsha@example.com", "bcrypt_sha256 password that is long " * 3, "bcrypt_sha256", {"groups": ["editors", "readers"]}),
    ("bcrypt", "bcrypt@example.com", "bcrypt password", "bcrypt", {}),
    ("scrypt", "scrypt@example.com", "scrypt password", "scrypt", {}),
    ("md5user", "md5@example.com", "md5 password", "md5", {}),
    ("inactive", "inactive@example.com", "inactive password", "pbkdf2_sha1", {"is_active": False}),
    ("corrupt", "corrupt@example.com", None, "corrupt", {}),
    ("dupfirst", "dup@example.com", "dup password", "pbkdf2_sha1", {}),
    ("dupsecond", "DUP@example.com", "dup password", "pbkdf2_sha1", {}),
    # Well-formed hashes asking for minutes of work (or years), as a hostile or broken row holds them.
    ("costlypbkdf2", "costly-pbkdf2@example.com", None, "stored",
     {"stored": "pbkdf2_sha256$100000000$salt$rlAVa3xqBYgwJyuyWVBNqz92BYQaVwebblUU+ECQxvU="}),
    ("costlybcrypt", "costly-bcrypt@example.com", None, "stored",
     {"stored": "bcrypt_sha256$$2b$31$IMOF0fs7WPCnqRK.mMjvOuUJsgmB24lGQb2.EDd6bo5bLg9Ue1gFu"}),
    ("costlyargon2", "costly-argon2@example.com", None, "stored",
     {"stored": "argon2$argon2id$v=19$m=102400,t=100000,p=8$UHR5ZjV6U0xPeDBqMlAxMVZtOXQySQ$KiHkMQfnMS8+O7qWmZScgQ"}),
    ("costlyscrypt", "costly-scrypt@example.com", None, "stored",
     {"stored": "scrypt$16384$salt$8$1000$y5wJgpJi5fMichjkhH4HFKAytyo8E03HYhvhZmryU83XNN/EPY8DwUCkTwdEATYg+c+UbxRwM8s7N1b6+8fnSg=="}),
    # Django's validators never ran on it (a shell or a migration wrote it); its login form strips spaces too.
    (" spaced ", "spaced@example.com", "spaced password", "pbkdf2_sha1", {}),
]
mdo_email = "alice@example.com"
mdo_username = base64.urlsafe_b64encode(hashlib.sha1(mdo_email.encode("utf-8")).digest()).decode("ascii").rstrip("=")

script = f"""
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.utils import timezone
import datetime
for username, email, password, hasher, extra in {USERS!r}:
    groups = extra.pop("groups", [])
    stored = extra.pop("stored", None)
    user = User(username=username, email=email, **extra)
    if hasher == "corrupt":
        user.password = "pbkdf2_sha256$260000$salt$not-base64!"
    elif hasher == "stored":
        user.password = stored
    else:
        user.password = make_password(password, hasher=hasher)
    user.last_login = timezone.now() - datetime.timedelta(days=3)
    user.save()
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
# As mozilla_django_oidc.auth.OIDCAuthenticationBackend.create_user does it.
User.objects.create_user({mdo_username!r}, email={mdo_email!r})
"""
manage("shell", stdin=script)

users = [{"username": "admin", "email": "admin@example.com", "password": "admin password 1", "hasher": "pbkdf2_sha256 (default)", "is_superuser": True}]
users += [{"username": u, "email": e, "password": p, "hasher": h, **{k: v for k, v in x.items()}} for u, e, p, h, x in USERS]
users.append({"username": mdo_username, "email": mdo_email, "password": None, "hasher": "unusable (mozilla-django-oidc)"})
print(json.dumps({"users": users, "database": database_url}))
