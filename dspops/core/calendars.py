"""Exchange session calendars as plain Python lookups.

`exchange_calendars` is the source of truth for holidays and ad hoc closures
(DECISIONS.md §2), but it is slow to build and every query goes through pandas.
Each calendar is therefore built once, with explicit bounds, and turned into a
sorted tuple of `datetime.date` plus a frozenset. After that, every function
here is pure Python (`bisect` and set membership), and takes microseconds.

Built once per process (functools.cache), and once per installation: importing
exchange_calendars (pandas, numpy) and building both calendars costs about 0.8 s,
which every monitor, command and worker start paid for two lists of dates. The
first build writes what it found (session days, opens and closes in UTC seconds)
to a small JSON file under DSPOPS_VAR_DIR/cache/calendars/; later processes read
that file in a few milliseconds and never import pandas. The file is named by
everything its answers depend on: the exchange, the window, the versions of
exchange_calendars and pandas, and the exact time-zone rules of the exchange's
zone (a hash of the tz file zoneinfo loads). When any of those changes, the name
changes and the calendar is built again; a file that cannot be read or does not
hold together is ignored and rebuilt, so the answers are always exchange_calendars'
own. A folder that cannot be written only costs the build again next time.

Supported exchanges: "XNYS" (NYSE) and "XCBF" (Cboe Futures Exchange, CFE).

Every function that takes a day wants a `datetime.date`. A `datetime` is
refused with TypeError, because comparing it with a date is either an error
or silently wrong; convert it with `trading_date()` first.

This module must not import Django: it is used by pure code and benchmarks.
"""

from __future__ import annotations

import array
import bisect
import functools
import hashlib
import itertools
import json
import logging
import operator
import os
import tempfile
import warnings
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dspops.core import bounds
from dspops.core.errors import OperatorError

__all__ = [
    "CALENDAR_END",
    "CALENDAR_START",
    "CalendarRangeError",
    "SUPPORTED_EXCHANGES",
    "holidays_between",
    "is_first_session_of_month",
    "in_window",
    "is_session",
    "market_hours",
    "MarketHours",
    "session_hours",
    "load",
    "next_session",
    "previous_session",
    "session_offset",
    "session_on_or_after",
    "session_on_or_before",
    "sessions_in_range",
    "sessions_until",
    "trading_date",
]

# exchange_calendars' default window ends a year from today, which would make
# results depend on when the process started. Fixed bounds wide enough for
# every VX contract 2004-01 .. 2040-12 (whose settlement looks at Jan 2041).
CALENDAR_START = date(2003, 1, 1)
CALENDAR_END = date(2041, 12, 31)

# The exchanges dspops counts sessions on, by their exchange_calendars names; use these names, not the strings.
NYSE = "XNYS"
CFE = "XCBF"  # Cboe Futures Exchange: VX and VXM
SUPPORTED_EXCHANGES = (NYSE, CFE)

NEW_YORK = ZoneInfo("America/New_York")


class CalendarRangeError(OperatorError, ValueError):
    """A date, or the answer to a lookup, lies outside the loaded calendar window."""


@dataclass(frozen=True)
class _Sessions:
    exchange: str
    sessions: tuple[date, ...]
    session_set: frozenset[date]
    # The regular trading hours of each session (aligned with `sessions`), as seconds after the UTC midnight that
    # starts the session's date; hours() turns one pair into aware datetimes when asked, so loading never builds
    # twenty thousand of them.
    opens: tuple[int, ...]
    closes: tuple[int, ...]

    def hours(self, day: date) -> tuple[datetime, datetime]:
        """(open, close) of the session `day` as aware UTC datetimes (`day` must be a session)."""
        i = bisect.bisect_left(self.sessions, day)
        midnight = (day.toordinal() - _EPOCH_ORDINAL) * 86400
        return (datetime.fromtimestamp(midnight + self.opens[i], _UTC),
                datetime.fromtimestamp(midnight + self.closes[i], _UTC))


# The zone exchange_calendars' opens and closes carry (pandas' UTC); session_hours answers in it too.
_UTC = ZoneInfo("UTC")
# The zone each supported exchange keeps its hours in (exchange_calendars' calendar.tz): the cache's name
# hashes its rules, so a tzdata change that moves a future open rebuilds the calendar.
_EXCHANGE_ZONES = {"XNYS": "America/New_York", "XCBF": "America/Chicago"}
_CACHE_FORMAT = 1
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

log = logging.getLogger(__name__)


@functools.cache
def _load(exchange: str) -> _Sessions:
    """The calendar of `exchange`: from the cache file when it matches, else built (and the file written)."""
    path = _cache_path(exchange)
    cal = _read_cache(path, exchange) if path is not None else None
    if cal is None:
        cal = _build(exchange)
        if path is not None:
            _write_cache(path, cal)
    return cal


def _build(exchange: str) -> _Sessions:
    # Imported here so importing this module stays cheap; pandas is only needed once.
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars 4.13.2 reads tz-aware Series.values, which pandas 3.1
        # deprecates (Pandas4Warning). Harmless with the pinned versions, and it
        # would otherwise turn into an error under `-W error`. Scoped to this one
        # build; a pandas 4 upgrade will still fail loudly in the tests.
        warnings.filterwarnings(
            "ignore", message="Series.values returning an ndarray", category=DeprecationWarning
        )
        cal = exchange_calendars.get_calendar(
            exchange, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
    if str(cal.tz) != _EXCHANGE_ZONES[exchange]:
        # The cache's name hashes _EXCHANGE_ZONES' rules; a calendar that moved zone must not be cached under it.
        raise RuntimeError(f"{exchange}: exchange_calendars keeps its hours in {cal.tz}, not "
                           f"{_EXCHANGE_ZONES[exchange]}; update calendars._EXCHANGE_ZONES")
    sessions = tuple(cal.sessions.date)  # vectorised: numpy hands back datetime.date objects
    midnights = [(day.toordinal() - _EPOCH_ORDINAL) * 86400 for day in sessions]
    opens, closes = (tuple(_whole_seconds(ns) - midnight for ns, midnight in zip(times.array.asi8, midnights))
                     for times in (cal.opens, cal.closes))
    return _Sessions(exchange=exchange, sessions=sessions, session_set=frozenset(sessions), opens=opens,
                     closes=closes)


def _whole_seconds(nanoseconds: int) -> int:
    seconds, rest = divmod(int(nanoseconds), 1_000_000_000)
    if rest:
        raise RuntimeError("exchange_calendars gave an open or close that is not a whole second")
    return seconds


def _cache_dir() -> Path:
    # The settings' VAR_DIR (settings.py puts DSPOPS_VAR_DIR, from the environment or .env, in os.environ);
    # the repository's var/ otherwise, as the settings default it. This module must not import Django.
    var = os.environ.get("DSPOPS_VAR_DIR") or str(Path(__file__).resolve().parents[2] / "var")
    return Path(var) / "cache" / "calendars"


def _cache_path(exchange: str) -> Path | None:
    """The cache file whose name says everything the calendar's answers depend on; None when unknowable."""
    from importlib import metadata

    try:
        versions = _versions()
        zone = _zone_fingerprint(_EXCHANGE_ZONES[exchange])
    except (metadata.PackageNotFoundError, OSError, KeyError):
        return None  # nothing to name the file by: build every time, as before
    # This module's own text too: a change to how the calendar is built or stored names a new file by itself.
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = json.dumps([_CACHE_FORMAT, code, exchange, CALENDAR_START.isoformat(), CALENDAR_END.isoformat(),
                      list(versions), zone])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return _cache_dir() / f"{exchange}-{digest}.json"


@functools.cache
def _versions() -> tuple[str, str]:
    from importlib import metadata

    return metadata.version("exchange_calendars"), metadata.version("pandas")


def _zone_fingerprint(key: str) -> str:
    """A hash of the rules zoneinfo uses for `key`: the first file on its TZPATH, else the tzdata package's."""
    for root in zoneinfo.TZPATH:
        candidate = Path(root) / key
        if candidate.is_file():
            return hashlib.sha256(candidate.read_bytes()).hexdigest()
    from importlib import resources

    return hashlib.sha256(resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()).hexdigest()


def _read_cache(path: Path, exchange: str) -> _Sessions | None:
    """The calendar stored at `path`, or None when there is none or it does not hold together."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        gaps = data["gaps"]
        # Each session as its distance in days from the one before (the first from day 0), which keeps the file
        # small: a session's date is the running sum. array() refuses anything but integers (at C speed).
        sessions = tuple(map(date.fromordinal, itertools.accumulate(array.array("q", gaps))))
        opens, closes = tuple(array.array("q", data["opens"])), tuple(array.array("q", data["closes"]))
        well_formed = (
            data["exchange"] == exchange and len(sessions) == len(opens) == len(closes) > 0
            and min(gaps[1:], default=1) > 0 and CALENDAR_START <= sessions[0] and sessions[-1] <= CALENDAR_END
            and all(map(operator.lt, opens, closes))
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        log.warning("ignoring the unreadable calendar cache %s; building %s again", path, exchange)
        return None
    session_set = frozenset(sessions)
    if not well_formed:
        log.warning("ignoring the inconsistent calendar cache %s; building %s again", path, exchange)
        return None
    return _Sessions(exchange=exchange, sessions=sessions, session_set=session_set, opens=opens, closes=closes)


def _write_cache(path: Path, cal: _Sessions) -> None:
    """Write atomically (a temporary file renamed into place): a reader sees the whole file or none."""
    ordinals = [day.toordinal() for day in cal.sessions]
    gaps = [ordinals[0]] + [later - earlier for earlier, later in zip(ordinals, ordinals[1:])]
    payload = json.dumps({"exchange": cal.exchange, "gaps": gaps, "opens": list(cal.opens),
                          "closes": list(cal.closes)}, separators=(",", ":"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(payload)
            os.chmod(temporary, 0o644)  # every role (web, worker, an operator's shell) reads the same file
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:  # a read-only or full disk: the calendar is built again next time, nothing worse
        log.info("could not write the calendar cache %s: %s", path, exc)


def load(exchange: str = NYSE) -> None:
    """Build the calendar for `exchange` now, so later lookups are fast.

    Raises ValueError for an unsupported exchange.
    """
    _calendar(exchange)


def _calendar(exchange: str) -> _Sessions:
    if exchange not in SUPPORTED_EXCHANGES:
        raise ValueError(
            f"Unsupported exchange {exchange!r}: use one of {', '.join(SUPPORTED_EXCHANGES)} "
            "(XCBF is the Cboe Futures Exchange)."
        )
    return _load(exchange)


def _check_day(day: date, what: str = "day") -> None:
    # datetime is a subclass of date; comparing it with the stored dates raises
    # TypeError deep inside bisect, so refuse it up front with a useful message.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(
            f"{what} must be a datetime.date, got {type(day).__name__} {day!r}; "
            "convert datetimes with trading_date() first."
        )
    if not CALENDAR_START <= day <= CALENDAR_END:
        raise CalendarRangeError(
            f"{what} {day.isoformat()} is outside the loaded exchange calendar "
            f"({CALENDAR_START.isoformat()} .. {CALENDAR_END.isoformat()})."
        )


def _out_of_range(exchange: str, message: str) -> CalendarRangeError:
    return CalendarRangeError(
        f"{exchange}: {message}; the loaded calendar covers "
        f"{CALENDAR_START.isoformat()} .. {CALENDAR_END.isoformat()}."
    )


def in_window(day: date) -> bool:
    """True if `day` lies inside the loaded calendar window (a stored date may not: 1900-01-01)."""
    return CALENDAR_START <= day <= CALENDAR_END


def is_session(day: date, *, exchange: str = NYSE) -> bool:
    """True if `day` is a trading session of `exchange`.

    Raises CalendarRangeError outside the loaded window, TypeError for a non-date.
    """
    cal = _calendar(exchange)
    _check_day(day)
    return day in cal.session_set


def previous_session(day: date, *, exchange: str = NYSE) -> date:
    """The last session strictly before `day`.

    Raises CalendarRangeError if `day`, or the answer, is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    i = bisect.bisect_left(cal.sessions, day)
    if i == 0:
        raise _out_of_range(exchange, f"no session before {day.isoformat()}")
    return cal.sessions[i - 1]


def next_session(day: date, *, exchange: str = NYSE) -> date:
    """The first session strictly after `day`.

    Raises CalendarRangeError if `day`, or the answer, is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    i = bisect.bisect_right(cal.sessions, day)
    if i == len(cal.sessions):
        raise _out_of_range(exchange, f"no session after {day.isoformat()}")
    return cal.sessions[i]


def session_on_or_before(day: date, *, exchange: str = NYSE) -> date:
    """`day` if it is a session, else the previous session.

    Raises CalendarRangeError if `day`, or the answer, is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    i = bisect.bisect_right(cal.sessions, day)
    if i == 0:
        raise _out_of_range(exchange, f"no session on or before {day.isoformat()}")
    return cal.sessions[i - 1]


def session_on_or_after(day: date, *, exchange: str = NYSE) -> date:
    """`day` if it is a session, else the next session.

    Raises CalendarRangeError if `day`, or the answer, is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    i = bisect.bisect_left(cal.sessions, day)
    if i == len(cal.sessions):
        raise _out_of_range(exchange, f"no session on or after {day.isoformat()}")
    return cal.sessions[i]


def sessions_in_range(start: date, end: date, *, exchange: str = NYSE) -> list[date]:
    """All sessions s with start <= s <= end, in order; empty if end < start.

    Raises CalendarRangeError if either bound is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(start, "start")
    _check_day(end, "end")
    lo = bisect.bisect_left(cal.sessions, start)
    hi = bisect.bisect_right(cal.sessions, end)
    return list(cal.sessions[lo:hi])


def session_offset(day: date, n: int, *, exchange: str = NYSE) -> date:
    """The session `n` sessions after `day` (n > 0), before it (n < 0), or `day` (n == 0).

    Raises ValueError if `day` is not a session (the offset would be ambiguous),
    CalendarRangeError if `day` or the answer is outside the loaded window,
    TypeError if `n` is not an int.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int number of sessions, got {type(n).__name__} {n!r}")
    cal = _calendar(exchange)
    _check_day(day)
    i = bisect.bisect_left(cal.sessions, day)
    if i == len(cal.sessions) or cal.sessions[i] != day:
        raise ValueError(
            f"{day.isoformat()} ({day:%A}) is not a {exchange} session; "
            "session_offset needs a session to count from "
            "(use session_on_or_before/after first)."
        )
    j = i + n
    if not 0 <= j < len(cal.sessions):
        direction = "after" if n > 0 else "before"
        raise _out_of_range(exchange, f"{abs(n)} sessions {direction} {day.isoformat()}")
    return cal.sessions[j]


def sessions_until(start: date, end: date, *, exchange: str = NYSE) -> int:
    """Countdown from `start` to `end` in sessions.

    The number of sessions s with start < s <= end, so a Friday-to-Monday
    countdown is 1 and the same day is 0. If end < start the result is
    negative: -(number of sessions s with end < s <= start).

    Raises CalendarRangeError if either date is outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(start, "start")
    _check_day(end, "end")
    # Both cases of the docstring are this one difference of ranks.
    return bisect.bisect_right(cal.sessions, end) - bisect.bisect_right(cal.sessions, start)


def is_first_session_of_month(day: date, *, exchange: str = NYSE) -> bool:
    """True if `day` is a session and no earlier session falls in the same month.

    Raises CalendarRangeError outside the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    if day not in cal.session_set:
        return False
    i = bisect.bisect_left(cal.sessions, day)
    # The window starts on the 1st of a month, so index 0 really is a first session.
    if i == 0:
        return True
    prev = cal.sessions[i - 1]
    return (prev.year, prev.month) != (day.year, day.month)


def holidays_between(start: date, end: date, *, exchange: str = NYSE) -> list[date]:
    """Weekdays in [start, end] that are not sessions (holidays and ad hoc closures).

    Empty if end < start. Raises CalendarRangeError if either bound is outside
    the loaded window.
    """
    cal = _calendar(exchange)
    _check_day(start, "start")
    _check_day(end, "end")
    out: list[date] = []
    day = start
    one = timedelta(days=1)
    while day <= end:
        if day.weekday() < 5 and day not in cal.session_set:
            out.append(day)
        day += one
    return out


def session_hours(day: date, *, exchange: str = NYSE) -> tuple[datetime, datetime]:
    """The (open, close) of the session `day`, as aware UTC datetimes (early closes included).

    Raises ValueError when `day` is not a session, CalendarRangeError outside the window.
    """
    cal = _calendar(exchange)
    _check_day(day)
    if day not in cal.session_set:
        raise ValueError(f"{day.isoformat()} is not an {exchange} session")
    return cal.hours(day)


@dataclass(frozen=True)
class MarketHours:
    """Whether `exchange` is open at `moment`, and the session that moment belongs to."""

    exchange: str
    moment: datetime
    is_open: bool
    session: date | None  # the session whose hours contain `moment` (None when closed)
    closes_at: datetime | None  # its close (None when closed)
    next_open: datetime  # the next open after `moment` (when closed), or this session's open

    def describe(self) -> str:
        local = self.moment.astimezone(NEW_YORK)
        if self.is_open:
            close = self.closes_at.astimezone(NEW_YORK)
            return f"{self.exchange} open: session {self.session}, closes {close:%H:%M} ET"
        reopen = self.next_open.astimezone(NEW_YORK)
        return (f"{self.exchange} closed at {local:%a %Y-%m-%d %H:%M} ET; "
                f"opens {reopen:%a %Y-%m-%d %H:%M} ET")


def market_hours(moment: datetime, *, exchange: str = NYSE) -> MarketHours:
    """Is `exchange` trading at the aware datetime `moment` (regular hours from exchange_calendars)?"""
    day = trading_date(moment)
    cal = _calendar(exchange)
    _check_day(day)
    for candidate in (session_on_or_before(day, exchange=exchange), session_on_or_after(day, exchange=exchange)):
        opened, closed = cal.hours(candidate)
        if opened <= moment < closed:
            return MarketHours(exchange, moment, True, candidate, closed, opened)
    following = session_on_or_after(day, exchange=exchange)
    if cal.hours(following)[0] <= moment:
        following = next_session(following, exchange=exchange)
    return MarketHours(exchange, moment, False, None, None, cal.hours(following)[0])


def trading_date(moment: datetime) -> date:
    """The America/New_York calendar date of an aware datetime.

    Raises ValueError for a naive datetime (its zone is unknown), TypeError for
    anything that is not a datetime.
    """
    if not isinstance(moment, datetime):
        raise TypeError(f"trading_date needs an aware datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"trading_date needs an aware datetime; {moment.isoformat()} has no time zone "
            "(store and pass UTC)."
        )
    return moment.astimezone(NEW_YORK).date()


def check_calendar_date(value: date, what: str) -> date:
    """A date within the bounds that dspops can also count sessions to (its exchange calendar's window).

    A roll-by or a settlement is counted down in CFE sessions: a date the calendar does not cover would
    make every countdown fail.
    """
    bounds.check_date(value, what)
    if not CALENDAR_START <= value <= CALENDAR_END:
        raise bounds.OutOfBounds(
            f"{what} {value.isoformat()} is outside the exchange calendar dspops counts sessions in "
            f"({CALENDAR_START} to {CALENDAR_END})")
    return value
