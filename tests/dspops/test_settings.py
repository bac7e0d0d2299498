"""Settings come from the environment and fail loudly where a default would hide a mistake."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": "k3y-" + "x7Qp9vLm2Zr8Tn4Wb6Yc1Hd5Jf0Gs3Ka" * 2,
    "ALLOWED_HOSTS": "dspops.internal",
    "SECURE_SSL_REDIRECT": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SESSION_COOKIE_SECURE": "True",
    "CSRF_COOKIE_SECURE": "True",
}


def _django(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dspops.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; {code}"],
        cwd=settings.BASE_DIR, env=full_env, capture_output=True, text=True, timeout=120,
    )


def test_a_missing_secret_key_with_debug_off_is_an_error():
    result = _django("print('started')", DEBUG="False", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_check_deploy_with_the_production_environment_prints_no_warnings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env={**env, **PRODUCTION_ENV}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_database_url_switches_to_postgresql():
    result = _django(
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'])",
        DATABASE_URL="postgres://someone@127.0.0.1:5432/dspops_example",
    )
    assert result.stdout.split() == ["django.db.backends.postgresql", "dspops_example"]


def test_redis_url_switches_the_task_broker_from_the_orm_to_redis():
    orm = _django("print(settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER.get('redis'))", REDIS_URL="", DATABASE_URL="")
    redis = _django("print(settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER.get('redis'))",
                    REDIS_URL="redis://127.0.0.1:6379/3", DATABASE_URL="")
    assert orm.stdout.split() == ["default", "None"]
    assert redis.stdout.split() == ["None", "redis://127.0.0.1:6379/3"]


def test_an_unknown_broker_mode_is_refused():
    result = _django("print('started')", IB_MODE="paper")
    assert result.returncode != 0
    assert "IB_MODE must be 'sim' or 'live'" in result.stderr


def test_time_is_stored_in_utc_and_shown_in_new_york():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "America/New_York"


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("this run uses PostgreSQL (DATABASE_URL); the SQLite pragmas do not apply")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 20000
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert os.path.isabs(settings.DATABASES["default"]["NAME"])


def test_a_sqlite_database_url_gets_the_same_options_as_the_default_file(tmp_path):
    """DATABASE_URL=sqlite:////path names the file; WAL, IMMEDIATE transactions and the busy timeout still apply."""
    code = (
        "import json; from django.db import connection; db = settings.DATABASES['default']; "
        "cursor = connection.cursor(); "
        "pragmas = {p: cursor.execute(f'PRAGMA {p}').fetchone()[0] for p in ('journal_mode', 'busy_timeout')}; "
        "print(json.dumps({'name': str(db['NAME']), 'options': db['OPTIONS'], 'test': db['TEST']['NAME'], **pragmas}))"
    )
    result = _django(code, DATABASE_URL=f"sqlite:///{tmp_path}/ops.sqlite3")
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)
    assert db["name"] == str(tmp_path / "ops.sqlite3")
    assert db["options"]["transaction_mode"] == "IMMEDIATE"
    assert db["options"]["timeout"] >= 20
    assert "journal_mode=WAL" in db["options"]["init_command"]
    assert (db["journal_mode"], db["busy_timeout"] >= 20000) == ("wal", True)
    # One test database per test process, beside the named file.
    test_name = Path(db["test"])
    assert test_name.parent == tmp_path and re.fullmatch(r"test_ops_\d+\.sqlite3", test_name.name), test_name


def test_options_in_a_sqlite_url_win_over_the_defaults(tmp_path):
    result = _django("print(settings.DATABASES['default']['OPTIONS']['timeout'], "
                     "settings.DATABASES['default']['OPTIONS']['transaction_mode'])",
                     DATABASE_URL=f"sqlite:///{tmp_path}/ops.sqlite3?timeout=60")
    assert result.stdout.split() == ["60", "IMMEDIATE"], result.stderr


def test_check_deploy_is_clean_with_the_env_file_make_env_writes_once_debug_is_off(tmp_path):
    """`make env` writes .env from .env.example; with DEBUG=False on top of it `check --deploy` has nothing
    to say: the file pins no hardening setting off (the measured W004, W008, W012 and W016)."""
    shutil.copy(Path(settings.BASE_DIR) / ".env.example", tmp_path / ".env.example")
    made = subprocess.run(["make", "-s", "-f", str(Path(settings.BASE_DIR) / "Makefile"), "-C", str(tmp_path), "env"],
                          capture_output=True, text=True, timeout=120)
    written = tmp_path / ".env"
    assert made.returncode == 0 and written.exists(), made.stdout + made.stderr
    secret = re.search(r"^SECRET_KEY=(.+)$", written.read_text(), re.M).group(1)
    assert len(secret) >= 50
    # Only the written file and DEBUG=False: nothing from this process's environment or the developer's .env.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "DSPOPS_ENV_FILE": str(written),
           "DEBUG": "False", "DSPOPS_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_over_plain_http_keeps_the_hardening_off(tmp_path):
    """DEBUG=True with the same file: no HTTPS redirect and no secure-only cookies, so http://127.0.0.1 works."""
    written = tmp_path / ".env"
    written.write_text((Path(settings.BASE_DIR) / ".env.example").read_text())
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "DSPOPS_ENV_FILE": str(written),
           "DSPOPS_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"],
        cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "dspops.settings"},
        capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "False", "0", "False", "False"], result.stderr


def test_a_named_settings_file_that_does_not_exist_is_an_error(tmp_path):
    result = _django("print('started')", DSPOPS_ENV_FILE=str(tmp_path / "missing.env"))
    assert result.returncode != 0
    assert "DSPOPS_ENV_FILE names" in result.stderr
