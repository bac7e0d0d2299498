"""dspops settings. Every value comes from the environment (or an optional .env file).

A bad or missing value that matters in production raises ImproperlyConfigured at start-up
instead of falling back to a default that hides it.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    # Values already in the environment win over the file.
    env.read_env(str(_env_file))

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
    "dspops",
    "sleeves",
    "rolls",
    "digests",
    "dspops.apps.DspopsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A locked or read-only SQLite database: a 503 page saying nothing was saved, not a traceback.
    "dspops.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
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

# --- time -------------------------------------------------------------------------------
TIME_ZONE = "America/New_York"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

# --- static and runtime data --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DATA_DIR = Path(env.str("DSPOPS_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DIGEST_DIR = DATA_DIR / "daily_digest"
CONFIG_DIR = BASE_DIR / "config"

LOGIN_URL = "admin:login"

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "dspops": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "ib_insync": {"handlers": ["console"], "level": "WARNING"},
    },
}
