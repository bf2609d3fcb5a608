"""Settings for the test suite: the production settings with fixed test keys."""

import os

os.environ.setdefault("ZEKTOR_SECRET_KEY", "zektor-test-secret-key-0123456789abcdef")
os.environ.setdefault(
    "ZEKTOR_ENCRYPTION_KEYS",
    "test1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
)
os.environ.setdefault("ZEKTOR_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The suite's servers listen on loopback; tests of the refusal turn this off.
os.environ.setdefault("ZEKTOR_CHECK_ALLOW_LOOPBACK", "true")

from zektor_portal.settings import *  # noqa: F403
from zektor_portal.settings import INSTALLED_APPS

# The demo app (load_demo, the server building blocks) is tested whatever ZEKTOR_DEBUG says.
if "demo" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "demo"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
