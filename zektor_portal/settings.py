"""Django settings. All configuration comes from the environment (see shared/interface.md)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import dj_database_url

from accounts.conf import socialaccount_providers
from zektor_portal.devkeys import development_encryption_keys
from zektor_portal.env import DEFAULT_DENY_NETWORKS, ConfigError, Env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"


def _load(env: Env) -> dict:
    debug = env.bool("ZEKTOR_DEBUG", False)
    why = "(set it, or ZEKTOR_DEBUG=true for development)"
    if env.bool("ZEKTOR_BOOTSTRAP", False):
        # manage.py sets this for commands like generate_encryption_key: nothing is stored.
        secret_key, keys = "zektor-bootstrap-" + os.urandom(16).hex(), {"boot": os.urandom(32)}
    elif debug:
        secret_key = env.str("ZEKTOR_SECRET_KEY", "zektor-insecure-development-key")
        keys_raw = env.str("ZEKTOR_ENCRYPTION_KEYS") is not None
        keys = (
            env.encryption_keys("ZEKTOR_ENCRYPTION_KEYS")
            if keys_raw
            else development_encryption_keys(DATA_DIR)
        )
    else:
        secret_key = env.required("ZEKTOR_SECRET_KEY", why)
        if len(secret_key) < 32:
            raise ConfigError("ZEKTOR_SECRET_KEY must be at least 32 characters long")
        env.required("ZEKTOR_ENCRYPTION_KEYS", why)
        keys = env.encryption_keys("ZEKTOR_ENCRYPTION_KEYS")
    database_url = env.str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'zektor.sqlite3'}")
    try:
        database = dj_database_url.parse(database_url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL: {exc}") from None
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers and one writer work at once; commits need no fsync of the journal.
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    elif database["ENGINE"] not in {
        "django.db.backends.postgresql",
    }:
        raise ConfigError("DATABASE_URL: only postgres:// and sqlite:// URLs are supported")
    redis_url = env.str("REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL: must start with redis://, rediss:// or unix://")
    return {
        "debug": debug,
        "secret_key": secret_key,
        "keys": keys,
        "database": database,
        "redis_url": redis_url,
        "allowed_hosts": env.list("ZEKTOR_ALLOWED_HOSTS", "localhost,127.0.0.1"),
        "check_timeout": env.float("ZEKTOR_CHECK_TIMEOUT", 10.0, minimum=1, maximum=120),
        "deny_networks": env.networks("ZEKTOR_CHECK_DENY_NETWORKS", DEFAULT_DENY_NETWORKS),
        "allow_loopback": env.bool("ZEKTOR_CHECK_ALLOW_LOOPBACK", False),
        "trusted_proxies": env.networks("ZEKTOR_TRUSTED_PROXIES", ""),
        "email": env.email(),
        **_identity(env),
    }


def _identity(env: Env) -> dict:
    oidc = env.oidc()
    local_login = env.bool("ZEKTOR_LOCAL_LOGIN", True)
    if not local_login and oidc is None:
        raise ConfigError("ZEKTOR_LOCAL_LOGIN=false needs ZEKTOR_OIDC_ISSUER: nobody could sign in")
    return {
        "oidc": oidc,
        "local_login": local_login,
        "step_up_seconds": env.int("ZEKTOR_STEP_UP_SECONDS", 600, minimum=30, maximum=86400),
    }


try:
    _config = _load(Env())
except ConfigError as _error:
    sys.stderr.write(f"zektor: configuration error: {_error}\n")
    raise SystemExit(2) from None

DEBUG: bool = _config["debug"]
SECRET_KEY: str = _config["secret_key"]
ALLOWED_HOSTS: list[str] = _config["allowed_hosts"]
ZEKTOR_ENCRYPTION_KEYS: dict[str, bytes] = _config["keys"]
ZEKTOR_CHECK_TIMEOUT: float = _config["check_timeout"]
ZEKTOR_CHECK_DENY_NETWORKS = _config["deny_networks"]
ZEKTOR_CHECK_ALLOW_LOOPBACK: bool = _config["allow_loopback"]
# Reverse proxies whose X-Forwarded-For is believed (instances/clientaddress.py).
ZEKTOR_TRUSTED_PROXIES = _config["trusted_proxies"]

# Outgoing mail for alerts (ZEKTOR_EMAIL_URL, ZEKTOR_EMAIL_FROM); off when unset.
ZEKTOR_EMAIL_SERVER, ZEKTOR_EMAIL_FROM = _config["email"]
if ZEKTOR_EMAIL_SERVER is not None:
    EMAIL_HOST = ZEKTOR_EMAIL_SERVER.host
    EMAIL_PORT = ZEKTOR_EMAIL_SERVER.port
    EMAIL_HOST_USER = ZEKTOR_EMAIL_SERVER.username
    EMAIL_HOST_PASSWORD = ZEKTOR_EMAIL_SERVER.password
    EMAIL_USE_TLS = ZEKTOR_EMAIL_SERVER.security == "starttls"
    EMAIL_USE_SSL = ZEKTOR_EMAIL_SERVER.security == "ssl"
    DEFAULT_FROM_EMAIL = SERVER_EMAIL = ZEKTOR_EMAIL_FROM
EMAIL_TIMEOUT = 10

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "instances",
    "alerts",
    # HTTP API (issue 16): django-ninja serves its Swagger UI files as static files.
    "ninja",
    "api",
]
# The demo servers and load_demo (development only) are not in the production image:
# installed only in development mode, and only where the code exists.
if DEBUG and importlib.util.find_spec("demo") is not None:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "instances.middleware.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "instances.middleware.NoStoreMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "zektor_portal.urls"
WSGI_APPLICATION = "zektor_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": _config["database"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if _config["redis_url"]:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _config["redis_url"],
            "KEY_PREFIX": "zektor",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "instances.signin.AddressThrottleBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "instance-list"
LOGOUT_REDIRECT_URL = "login"

# Sessions: short-lived, cookie-only, secure outside development.
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# TLS terminates at the reverse proxy, which redirects http to https and sets
# X-Forwarded-Proto; the container's own health check speaks plain http. HSTS preload
# is the domain owner's choice, not the portal's.
SILENCED_SYSTEM_CHECKS = ["security.W008", "security.W021"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }
}

# Login throttling (django-axes): lock a username+address pair after repeated failures; the
# address is the client's (behind ZEKTOR_TRUSTED_PROXIES), so one client cannot lock out
# everyone. instances.signin also limits failures per address across all usernames.
AXES_CLIENT_IP_CALLABLE = "instances.clientaddress.client_address"
AXES_USERNAME_CALLABLE = "instances.signin.lockout_username"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

RATELIMIT_VIEW = "instances.views.rate_limited"
RATELIMIT_IP_META_KEY = "instances.clientaddress.client_address"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Identity (accounts app): SSO through allauth's OpenID Connect provider, second factors
# (allauth.mfa: TOTP, recovery codes, WebAuthn security keys), step-up before secrets:
# see accounts/.
ZEKTOR_OIDC = _config["oidc"]
ZEKTOR_LOCAL_LOGIN: bool = _config["local_login"]
ZEKTOR_STEP_UP_SECONDS: int = _config["step_up_seconds"]
INSTALLED_APPS += [
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "accounts",
]
_after_auth = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
MIDDLEWARE[_after_auth:_after_auth] = [
    "allauth.account.middleware.AccountMiddleware",
    "accounts.policy.RequireMFAMiddleware",
]
AUTHENTICATION_BACKENDS += ["allauth.account.auth_backends.AuthenticationBackend"]
# allauth's own rate limits count per client address: the portal's (ClientAddressMiddleware).
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Zektor-Client-Address"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = False  # an SSO user never takes over a local account by its email
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_LOGIN_ON_GET = True  # a link starts SSO: CSP form-action stays 'self'
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = socialaccount_providers(ZEKTOR_OIDC)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Zektor Portal"
MFA_ALLOW_UNVERIFIED_EMAIL = True  # local accounts have no e-mail verification
