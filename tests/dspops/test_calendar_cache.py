"""The calendar cache file (dspops.core.calendars): built once per installation, read in milliseconds after that,
and never answering differently from exchange_calendars itself."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timezone

import pytest

from dspops.core import calendars


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache folder, and a process that has loaded no calendar yet (restored afterwards)."""
    monkeypatch.setenv("DSPOPS_VAR_DIR", str(tmp_path))
    calendars._load.cache_clear()
    yield tmp_path / "cache" / "calendars"
    calendars._load.cache_clear()


def _no_build(exchange):
    raise AssertionError(f"{exchange} was built again instead of read from the cache")


@pytest.mark.parametrize("exchange", ["XNYS", "XCBF"])
def test_a_second_process_reads_what_the_first_built(cache_dir, monkeypatch, exchange):
    built = calendars._load(exchange)
    (written,) = cache_dir.glob(f"{exchange}-*.json")
    calendars._load.cache_clear()  # as a new process would start
    monkeypatch.setattr(calendars, "_build", _no_build)
    read = calendars._load(exchange)
    assert read == built
    for day in (read.sessions[0], date(2026, 11, 27), date(2026, 12, 24), read.sessions[-1]):  # early closes too
        if day in read.session_set:
            assert read.hours(day) == built.hours(day)
    assert written.stat().st_size < 200_000


def test_the_cached_answers_are_exchange_calendars_own(cache_dir, monkeypatch):
    import exchange_calendars

    calendars._load("XNYS")
    calendars._load.cache_clear()
    monkeypatch.setattr(calendars, "_build", _no_build)
    oracle = exchange_calendars.get_calendar("XNYS", start="2003-01-01", end="2041-12-31")
    assert calendars._load("XNYS").sessions == tuple(ts.date() for ts in oracle.sessions)
    for session in ("2026-11-27", "2026-12-24", "2026-07-02", "2041-12-31"):  # day-after-Thanksgiving early close
        opened, closed = oracle.session_open_close(session)
        assert calendars.session_hours(date.fromisoformat(session)) == (opened.to_pydatetime(), closed.to_pydatetime())
    assert calendars.market_hours(datetime(2026, 11, 27, 18, 30, tzinfo=timezone.utc)).is_open is False  # 13:30 ET


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],  # cut short
    lambda text: "not json",
    lambda text: json.dumps({**json.loads(text), "gaps": list(reversed(json.loads(text)["gaps"]))}),  # out of order
    lambda text: json.dumps({**json.loads(text), "opens": json.loads(text)["opens"][:-1]}),  # one open missing
    lambda text: json.dumps({**json.loads(text), "exchange": "XCBF"}),  # another exchange's
])
def test_a_damaged_file_is_ignored_and_the_calendar_built_again(cache_dir, caplog, damage):
    built = calendars._load("XNYS")
    (written,) = cache_dir.glob("XNYS-*.json")
    written.write_text(damage(written.read_text()))
    calendars._load.cache_clear()
    with caplog.at_level(logging.WARNING, logger="dspops.core.calendars"):
        assert calendars._load("XNYS") == built
    assert "ignoring" in caplog.text
    assert json.loads(written.read_text())["gaps"][0] == built.sessions[0].toordinal()  # and written again whole


def test_the_file_is_named_by_what_the_answers_depend_on(cache_dir, monkeypatch):
    from importlib import metadata

    before = calendars._cache_path("XNYS")
    assert before != calendars._cache_path("XCBF")
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "exchange_calendars" else real(name))
    calendars._versions.cache_clear()
    assert calendars._cache_path("XNYS") != before  # an upgrade builds again
    monkeypatch.setattr(metadata, "version", real)
    calendars._versions.cache_clear()
    monkeypatch.setattr(calendars, "_zone_fingerprint", lambda key: "other tz rules")
    assert calendars._cache_path("XNYS") != before  # so does a tzdata change


def test_a_folder_that_cannot_be_written_costs_only_the_build(cache_dir, monkeypatch):
    cache_dir.parent.mkdir(parents=True)
    cache_dir.write_text("a file where the folder should be")
    assert calendars.is_session(date(2026, 6, 19)) is False  # Juneteenth
    assert calendars.next_session(date(2026, 6, 18)) == date(2026, 6, 22)
