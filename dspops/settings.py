"""dspops settings. Every value comes from the environment (or an optional .env file).

A bad or missing value that matters in production raises ImproperlyConfigured at start-up
instead of falling back to a default that hides it.
"""

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `make env` writes BASE_DIR/.env for development; a deployment can keep its file elsewhere.
_env_file = Path(os.environ.get("DSPOPS_ENV_FILE") or BASE_DIR / ".env")
if _env_file.exists():
    # Values already in the environment win over the file.
    env.read_env(str(_env_file))
elif os.environ.get("DSPOPS_ENV_FILE"):
    raise ImproperlyConfigured(f"DSPOPS_ENV_FILE names {_env_file}, which does not exist.")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY in the environment or in "
            f"{_env_file} (make run writes one for development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The floors, bottom up (docs/architecture.md): the kernel (label "dspops"), sleeves, rolls, digests, the site.
    "dspops.core",
    "sleeves",
    "rolls",
    "digests",
    "dspops.apps.SiteConfig",
    "dspops.apps.DspopsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "django_q",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself (gunicorn in production), compressed and cached.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every page (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A locked or read-only SQLite database: a 503 page saying nothing was saved, not a traceback.
    "dspops.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dspops.urls"
WSGI_APPLICATION = "dspops.wsgi.application"

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
                "dspops.context_processors.broker_mode",
            ],
        },
    },
]

# --- database: SQLite by default, PostgreSQL (or SQLite named by URL) through DATABASE_URL ----
VAR_DIR = Path(env.str("DSPOPS_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
SQLITE_PATH = VAR_DIR / "dspops.sqlite3"
SQLITE_ENGINE = "django.db.backends.sqlite3"
# Every SQLite database gets these, however it is named (the default file or a sqlite:// URL).
SQLITE_OPTIONS = {
    # Writers take the lock at BEGIN, so two writers queue instead of failing half-way with
    # "database is locked"; WAL lets readers run beside a writer; a writer waits up to `timeout`
    # seconds for another one (another request, the worker, a backup) before giving up.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": SQLITE_ENGINE, "NAME": SQLITE_PATH}}

# Django's default (close after each request) unless set: threads that keep connections open stop
# a test database from being dropped, and one operator gains little from pooling.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)

# The largest file an import reads, in bytes; a larger one is refused before any row is read (issue 14). Real price
# files are ~0.2 MB and the 100,000-bar cap fits in ~3 MB; a Flex report of a busy year is a few MB.
PRICE_IMPORT_MAX_BYTES = env.int("PRICE_IMPORT_MAX_BYTES", default=8 * 1024 * 1024)
FLEX_IMPORT_MAX_BYTES = env.int("FLEX_IMPORT_MAX_BYTES", default=32 * 1024 * 1024)

if DATABASES["default"]["ENGINE"] == SQLITE_ENGINE:
    _name = str(DATABASES["default"]["NAME"] or "")
    # Options given in the URL's query string (sqlite:////path?timeout=60) win over the defaults.
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    if _name and _name != ":memory:" and not _name.startswith("file:"):
        # A relative sqlite:/// path means the same file whichever directory a process starts in.
        _path = (BASE_DIR / _name).resolve()
        DATABASES["default"]["NAME"] = _path
        _test_dir, _stem = _path.parent, _path.stem
    else:
        _test_dir, _stem = VAR_DIR, "dspops"
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Tests use a file, not :memory:, so the web server and the worker threads of the browser
    # tests see the same database; one file per test process, beside the database, so two runs
    # never collide.
    DATABASES["default"]["TEST"] = {"NAME": str(_test_dir / f"test_{_stem}_{os.getpid()}.sqlite3")}
else:
    # One test database per test process, so two runs on one server never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- background tasks: django-q2, ORM broker by default, Redis through REDIS_URL ----------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "dspops",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 600,
    # retry must exceed timeout, and a failed task is acknowledged, not retried forever.
    "retry": 900,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Tasks",
    "poll": 2,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- caches: "charts" keeps the dashboard's drawn charts under their data version (digests/charts.py) ---
# Shared by the web workers and kept across restarts: Redis when REDIS_URL is set, else files under the
# var dir (never the database: a GET writes nothing there). "default" stays per-process memory, as before.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "charts": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
               "KEY_PREFIX": "dspops-charts", "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if REDIS_URL else
    {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": VAR_DIR / "cache" / "charts"},
}

# --- time -------------------------------------------------------------------------------
TIME_ZONE = "America/New_York"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

# --- static and runtime data --------------------------------------------------------------
STATIC_URL = "static/"
# `manage.py collectstatic` gathers the files here; whitenoise serves them (Procfile.live).
STATIC_ROOT = Path(env.str("DSPOPS_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))).resolve()
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # With DEBUG off: names with a content hash (cached for a year by browsers) and gzip/brotli
    # copies, from the manifest collectstatic writes; a page naming a file collectstatic did not
    # gather fails loudly. In development the files come straight from the apps, no collectstatic.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# In development (and the tests) whitenoise finds the files in the apps and static/ as they change,
# so nothing needs collectstatic; with DEBUG off it serves only what collectstatic gathered.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
DATA_DIR = Path(env.str("DSPOPS_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DIGEST_DIR = DATA_DIR / "daily_digest"
CONFIG_DIR = BASE_DIR / "config"

LOGIN_URL = "admin:login"
# Where a login lands when it names no `next`, or one that is refused (another site, //evil):
# the dashboard, never Django's /accounts/profile/ (which dspops does not have).
LOGIN_REDIRECT_URL = "admin:index"

# --- failed logins: django-axes --------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses any login for a username locked out from this address, before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# A lock holds one username from one address: a wrong password elsewhere locks out no one else.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Every failed attempt during a lockout starts the 15 minutes again (the page says until when).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dspops.middleware.lockout_response"
AXES_CLIENT_IP_CALLABLE = "dspops.middleware.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
# Locks are lifted by time or with `manage.py axes_reset_username NAME`; the admin shows no axes pages
# (a Viewer could not open them) and successful logins are not logged again (Django keeps last_login).
AXES_ENABLE_ADMIN = False
AXES_DISABLE_ACCESS_LOG = True

# --- broker -------------------------------------------------------------------------------
IB_MODE = env.str("IB_MODE", default="sim")
if IB_MODE not in {"sim", "live"}:
    raise ImproperlyConfigured(f"IB_MODE must be 'sim' or 'live', not {IB_MODE!r}.")
IB_HOST = env.str("IB_HOST", default="127.0.0.1")
IB_PORT = env.int("IB_PORT", default=7497)
IB_CLIENT_ID = env.int("IB_CLIENT_ID", default=300)
# Each role gets its own client id: TWS refuses a second connection with an id in use.
IB_CLIENT_ID_OFFSETS = {"web": 0, "worker": 1, "shell": 2, "test": 9}
IB_READONLY = env.bool("IB_READONLY", default=True)
IB_CONNECT_TIMEOUT = env.float("IB_CONNECT_TIMEOUT", default=10.0)
IB_REQUEST_TIMEOUT = env.float("IB_REQUEST_TIMEOUT", default=10.0)
IB_SIM_SCENARIO = env.str("IB_SIM_SCENARIO", default="calm_contango")

# --- email for critical alerts --------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "dspops.mail.StderrEmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="dspops@localhost")
ALERT_EMAIL_TO = env.list("ALERT_EMAIL_TO", default=[])

# --- security: strict whenever DEBUG is off ------------------------------------------------
_prod = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_prod)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _prod else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_prod)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_prod)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_prod)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_prod)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool(
    "BEHIND_TLS_PROXY", default=False
) else None
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp) --------------------------------------------------------
# Scripts and styles come from dspops's own files. An inline <script> or <style> runs only with
# the request's nonce (nonce="{{ request.csp_nonce }}"), which is added to the header only on pages
# that use it. Text from files, the broker or forms can therefore never run as script.
# Style attributes: none in dspops's templates or code (classes in static/dspops/dspops.css). A
# library template still carries one, allowed by its exact hash and nothing else.
_STYLE_ATTRIBUTES_IN_CODE = (
    "border-top: 0",  # django-simple-history's object_history_list.html paginator
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_HASHES] + [
            "'sha256-{}'".format(base64.b64encode(hashlib.sha256(value.encode()).digest()).decode())
            for value in _STYLE_ATTRIBUTES_IN_CODE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 403 (a Viewer on an Operator page) is an answer, not a failure: one warning line, no traceback.
    "filters": {"no_403_traceback": {"()": "dspops.middleware.DropPermissionDeniedTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "dspops": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "ib_insync": {"handlers": ["console"], "level": "WARNING"},
        "django.request": {"filters": ["no_403_traceback"]},
    },
}
