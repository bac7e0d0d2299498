"""Where a monitor's inputs come from: the broker (live), stored history, or the operator.

Every input is an Observation: a value (or None), its source, its as-of time, and, when the
value is missing, the reason. A missing input is never replaced by a default that looks like
data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.utils import timezone

from dspops.core import calendars, clock
from dspops.core.calendars import NEW_YORK
from dspops.core.models import DataSource, Instrument, QuoteSnapshot
from sleeves.models import PriceBar

CLOSE_TIME = time(16, 0)


@dataclass(frozen=True)
class Observation:
    name: str
    value: Decimal | None
    source: str
    as_of: datetime | None
    reason: str = ""
    detail: str = ""  # e.g. which price was used: mid, last, close

    @property
    def missing(self) -> bool:
        return self.value is None

    def describe(self) -> dict:
        """For MonitorRun.sources: where the value came from and when."""
        as_of = timezone.localtime(self.as_of).isoformat() if self.as_of else None
        entry = {"source": self.source, "as_of": as_of}
        if self.detail:
            entry["price"] = self.detail
        if self.reason:
            entry["missing"] = self.reason
        return entry


def manual(name: str, value: Decimal | None) -> Observation:
    """A value the operator typed on the command line or in a form."""
    if value is None:
        return Observation(name, None, DataSource.MANUAL, None, reason=f"{name} was not given")
    if not value.is_finite():
        return Observation(name, None, DataSource.MANUAL, clock.now(), reason=f"{name} {value} is not a number")
    return Observation(name, value, DataSource.MANUAL, clock.now())


def missing(name: str, reason: str, source: str = DataSource.STORED) -> Observation:
    return Observation(name, None, source, None, reason=reason)


def from_quote(name: str, quote: QuoteSnapshot | None, *, prefer: tuple[str, ...]) -> Observation:
    """A price from a stored quote: the first present of ``prefer`` (mid, last, close).

    An invalid quote gives no value, with the quote's own reason.
    """
    if quote is None:
        return missing(name, f"no quote for {name}")
    if not quote.valid:
        return Observation(name, None, quote.source, quote.as_of, reason=f"{name}: {quote.invalid_reason}")
    for field in prefer:
        value = quote.mid if field == "mid" else getattr(quote, field)
        if value is not None:
            return Observation(name, value, quote.source, quote.as_of, detail=field)
    return Observation(name, None, quote.source, quote.as_of,
                       reason=f"{name}: the quote has no {' / '.join(prefer)} price")


def stored_close(name: str, instrument: Instrument, *, session, max_age_sessions: int = 1) -> Observation:
    """The latest stored daily close, if it is at most ``max_age_sessions`` sessions before ``session``."""
    bar = PriceBar.objects.filter(instrument=instrument, session__lte=session).order_by("-session").first()
    if bar is None:
        return missing(name, f"no stored closes for {instrument}")
    as_of = datetime.combine(bar.session, CLOSE_TIME, tzinfo=NEW_YORK)
    age = calendars.sessions_until(bar.session, session)
    if age > max_age_sessions:
        return Observation(name, None, DataSource.STORED, as_of,
                           reason=f"{name}: the stored history ends {bar.session}, {age} sessions before {session}")
    return Observation(name, bar.close, DataSource.STORED, as_of, detail="close")


def latest_quote(instrument: Instrument, *, session) -> QuoteSnapshot | None:
    """The newest quote recorded during ``session`` (New York date), valid or not."""
    start = datetime.combine(session, time(0, 0), tzinfo=NEW_YORK)
    return QuoteSnapshot.objects.filter(instrument=instrument, as_of__gte=start).order_by("-as_of", "-id").first()


def combine(*candidates: Observation) -> Observation:
    """The first candidate that has a value; else the first one, whose reason says what is missing."""
    for candidate in candidates:
        if not candidate.missing:
            return candidate
    reasons = "; ".join(c.reason for c in candidates if c.reason)
    first = candidates[0]
    return Observation(first.name, None, first.source, first.as_of, reason=reasons)
