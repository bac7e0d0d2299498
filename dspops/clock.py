"""What "now" and "today" mean for the book: New York trading sessions, from the calendar."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone

from dspops import calendars


def now() -> datetime:
    return timezone.now()


def trading_date(moment: datetime | None = None) -> date:
    """The New York calendar date of ``moment`` (default: now)."""
    return calendars.trading_date(moment or now())


def current_session(moment: datetime | None = None, *, exchange: str = "XNYS") -> date:
    """Today's session if the market trades today, else the latest session before it."""
    return calendars.session_on_or_before(trading_date(moment), exchange=exchange)


def is_trading_day(moment: datetime | None = None, *, exchange: str = "XNYS") -> bool:
    return calendars.is_session(trading_date(moment), exchange=exchange)
