"""SQLite under a held write lock: a web write waits for it, or says plainly that nothing was saved.

Another process (a real one: the worker, a shell command, a backup) holds BEGIN IMMEDIATE on
this run's test database while the web writes a fill. Within the busy timeout the write waits and
lands; past it, the operator gets a 503 page saying the database is busy and nothing was saved.
The same holds when the database is named by DATABASE_URL=sqlite:////path (the measured failure:
17 of 20 concurrent fill submissions returned 500 "database is locked" with the URL form). A
read-only database file gets its own 503 page. Never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from dspops.core import calendars, clock
from dspops.core.models import Instrument
from sleeves.models import Fill, PriceBar, Sleeve

pytestmark = pytest.mark.django_db(transaction=True)

README = Path(settings.BASE_DIR) / "README.md"

HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("CREATE TABLE IF NOT EXISTS lock_holder_scratch (x INTEGER)")
db.execute("INSERT INTO lock_holder_scratch VALUES (1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""

# The web process of the URL-form test: the real request stack (middleware, admin, ORM) in a process
# whose settings named the database by DATABASE_URL. It logs in before the lock is taken.
WEB_CLIENT = """
import json, os, sys, time
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

db = settings.DATABASES["default"]
client = Client(raise_request_exception=False)
client.force_login(get_user_model().objects.get(pk=int(sys.argv[1])))
print(json.dumps({"ready": True, "options": db.get("OPTIONS", {})}), flush=True)
data = json.loads(sys.stdin.readline())
started = time.monotonic()
response = client.post("/admin/sleeves/fill/add/", data)
print(json.dumps({"status": response.status_code, "seconds": time.monotonic() - started,
                  "body": response.content.decode()[:3000]}), flush=True)
"""


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only (its write lock and busy timeout); this run uses PostgreSQL, CI's SQLite run covers it")


def database_file() -> str:
    return str(connection.settings_dict["NAME"])


class HeldLock:
    """A second process holding the database's write lock (BEGIN IMMEDIATE, one uncommitted row) for `seconds`."""

    def __init__(self, seconds: float):
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, database_file(), str(seconds)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.strip() == "locked", (line, self.process.stderr.read())
        self.locked_at = time.monotonic()

    def wait(self):
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return out

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def fill_form() -> dict:
    """A fill that meets no warning: on a session, with a stored close of SPY near the typed price."""
    executed = calendars.session_on_or_before(clock.trading_date() - timedelta(days=3))
    spy = Instrument.objects.get(local_symbol="SPY")
    PriceBar.objects.get_or_create(instrument=spy, session=executed, defaults={"close": Decimal("680.95"),
                                                                               "source": "stored"})
    return {"sleeve": Sleeve.objects.get(code="VRP_ERP").pk, "instrument": spy.pk,
            "side": "BUY", "quantity": "13", "price": "681.40", "commission": "1.00",
            "executed_at_0": executed.strftime("%Y-%m-%d"), "executed_at_1": "10:01:00",
            "exec_id": "", "order_ref": "busy-test", "note": ""}


@pytest.fixture
def short_timeout():
    """The busy timeout lowered to 1 s for this test (a new connection picks it up), restored after."""
    options = connection.settings_dict["OPTIONS"]
    connection.close()
    connection.settings_dict["OPTIONS"] = {**options, "timeout": 1}
    yield
    connection.close()
    connection.settings_dict["OPTIONS"] = options


def test_a_web_write_waits_for_another_process_lock_and_then_lands(operator_client):
    data = fill_form()
    lock = HeldLock(seconds=3)
    try:
        response = operator_client.post(reverse("admin:sleeves_fill_add"), data)
        waited = time.monotonic() - lock.locked_at
        assert lock.wait().strip() == "released"
    finally:
        lock.stop()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert waited >= 2.5  # it queued behind the lock instead of failing
    assert Fill.objects.filter(order_ref="busy-test").count() == 1


def test_with_a_sqlite_database_url_a_web_write_waits_ten_seconds_for_the_lock_and_lands(operator_user):
    """The measured failure: named by URL, SQLite lost its options, so the write gave up after 5 s with a 500."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DJANGO_SETTINGS_MODULE="dspops.settings", DATABASE_URL=f"sqlite:///{database_file()}")
    web = subprocess.Popen([sys.executable, "-c", WEB_CLIENT, str(operator_user.pk)], cwd=settings.BASE_DIR, env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = None
    data = fill_form()  # its stored close is written before the lock is taken
    try:
        ready = web.stdout.readline()
        assert ready, web.communicate(timeout=30)
        options = json.loads(ready)["options"]
        lock = HeldLock(seconds=10)
        web.stdin.write(json.dumps(data) + "\n")
        web.stdin.flush()
        result = json.loads(web.stdout.readline() or "{}")
        waited = time.monotonic() - lock.locked_at
        lock.wait()
    finally:
        if lock:
            lock.stop()
        web.kill()
        web.communicate()
    assert result.get("status") == 302, result
    assert waited >= 9.5, waited
    assert (options.get("transaction_mode"), options.get("timeout", 0) >= 20) == ("IMMEDIATE", True), options
    assert Fill.objects.filter(order_ref="busy-test").count() == 1


def test_a_lock_held_longer_than_the_timeout_gives_a_busy_page_and_saves_nothing(operator_client, short_timeout,
                                                                                 caplog):
    data = fill_form()
    lock = HeldLock(seconds=4)
    try:
        response = operator_client.post(reverse("admin:sleeves_fill_add"), data)
    finally:
        lock.stop()
    page = response.content.decode()
    assert response.status_code == 503
    assert "The database is busy; nothing was saved; try again." in page
    assert 'href="/admin/"' in page and "admin/css/base.css" in page  # styled, with a way back
    assert "Traceback" not in page and "OperationalError" not in page
    assert response["Retry-After"] == "10"
    assert Fill.objects.filter(order_ref="busy-test").count() == 0
    assert not any(record.exc_info for record in caplog.records)
    assert "nothing saved, the database is busy" in caplog.text


def test_a_read_only_database_file_gives_a_clear_page_not_a_traceback(operator_client, caplog):
    data = fill_form()
    name = connection.settings_dict["NAME"]
    connection.close()
    # Opened read-only, exactly as SQLite opens a file the server's user may not write.
    connection.settings_dict["NAME"] = f"file:{name}?mode=ro"
    try:
        response = operator_client.post(reverse("admin:sleeves_fill_add"), data)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name
    page = response.content.decode()
    assert response.status_code == 503
    assert "The database file is read-only: nothing was saved." in page
    assert "Traceback" not in page
    assert Fill.objects.filter(order_ref="busy-test").count() == 0
    assert not any(record.exc_info for record in caplog.records)


def test_the_readme_backup_command_works_while_another_process_writes(booted, tmp_path):
    """The README's SQLite backup, run while another process holds the write lock with a row in flight."""
    commands = [line.strip() for line in README.read_text(encoding="utf-8").splitlines() if ".backup" in line]
    match = next((re.search(r"`(sqlite3 var/dspops\.sqlite3 [^`]*)`", line) for line in commands), None)
    assert match, "the README names no `sqlite3 var/dspops.sqlite3 ... .backup ...` command"
    if not Path("/usr/bin/sqlite3").exists():
        pytest.skip("the sqlite3 command-line tool is not installed (apt-get install sqlite3)")
    target = tmp_path / "backup.sqlite3"
    command = match.group(1).replace("var/dspops.sqlite3", shlex.quote(database_file())).replace(
        "backup.sqlite3", str(target))
    lock = HeldLock(seconds=3)
    try:
        result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    finally:
        lock.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    copy = sqlite3.connect(target)
    # The schema's CHECK constraints use REGEXP, which Django registers on its own connections.
    copy.create_function("REGEXP", 2, lambda pattern, value: value is not None and re.search(pattern, value) is not None)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM sleeves_sleeve").fetchone()[0] == Sleeve.objects.count()
    finally:
        copy.close()
