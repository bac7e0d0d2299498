"""What "now" and "today" mean for the book: New York trading sessions, from the calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from dspops.core import calendars


def now() -> datetime:
    return timezone.now()


def trading_date(moment: datetime | None = None) -> date:
    """The New York calendar date of ``moment`` (default: now)."""
    return calendars.trading_date(moment or now())


def current_session(moment: datetime | None = None, *, exchange: str = calendars.NYSE) -> date:
    """Today's session if the market trades today, else the latest session before it."""
    return calendars.session_on_or_before(trading_date(moment), exchange=exchange)


def is_trading_day(moment: datetime | None = None, *, exchange: str = calendars.NYSE) -> bool:
    return calendars.is_session(trading_date(moment), exchange=exchange)


@dataclass(frozen=True)
class ActingSession:
    """The session a person's action acts on (DECISIONS.md section 8).

    On a session day it is today. On a closed day it is the last session before it, and ``note``
    says so, so every entry point (dashboard buttons, commands, warm-up) reports it the same way.
    """

    today: date  # the New York calendar date
    session: date
    exchange: str

    @property
    def market_open_today(self) -> bool:
        return self.today == self.session

    @property
    def note(self) -> str:
        return "" if self.market_open_today else " (the market is closed today)"

    def label(self) -> str:
        """"Fri 2026-11-27 (the market is closed today)", or the plain session on a session day."""
        return f"{self.session:%a %Y-%m-%d}{self.note}"

    def closed_reason(self) -> str:
        """Why a scheduled task does not run today, naming the last session; "" on a session day.

        "market closed (Saturday 2026-11-28 is not an NYSE session; the last one was 2026-11-27)"
        """
        if self.market_open_today:
            return ""
        name = {calendars.NYSE: "an NYSE", calendars.CFE: "a CFE"}.get(self.exchange, f"an {self.exchange}")
        return (f"market closed ({self.today:%A %Y-%m-%d} is not {name} session; "
                f"the last one was {self.session})")


def acting_session(moment: datetime | None = None, *, exchange: str = calendars.NYSE) -> ActingSession:
    today = trading_date(moment)
    return ActingSession(today=today, session=calendars.session_on_or_before(today, exchange=exchange),
                         exchange=exchange)
