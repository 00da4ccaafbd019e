"""Django's own verdict on passwords: the messages of django.contrib.auth.password_validation.validate_password
with the AUTH_PASSWORD_VALIDATORS that `django-admin startproject` writes, for a User with the given fields.

    /usr/bin/python3 validate_passwords.py < cases.json

Reads a JSON array of {"password": str, "user": {"username", "email", "first_name", "last_name"} or null}
and prints a JSON array with, for each case, the list of messages (empty when the password passes).
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    DATABASES={},
    USE_I18N=False,
    AUTH_PASSWORD_VALIDATORS=[
        {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
        {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    ],
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.auth.password_validation import validate_password  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402

verdicts = []
for case in json.load(sys.stdin):
    user = User(**case["user"]) if case["user"] is not None else None
    try:
        validate_password(case["password"], user)
        verdicts.append([])
    except ValidationError as error:
        verdicts.append(error.messages)
json.dump(verdicts, sys.stdout)
