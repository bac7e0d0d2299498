"""The VX / VXM futures contract calendar (DECISIONS.md §2), as pure functions.

Final settlement of the contract for month M is the Wednesday 30 days before
the third Friday of month M+1. If that Friday is not a Cboe business day, the
30 days are counted back from the business day before it; if the resulting day
is not a business day, the business day before it is used. The last trading
day is the settlement date itself.

Roll-by is the Nth CFE session before settlement (N = 5 by default).

Business days come from exchange_calendars' XCBF calendar via
`dspops.core.calendars`. Checked against exchange_calendars 4.13.2: XCBF closes on
Good Friday and on Juneteenth from 2022 (observed on the Friday/Monday when it
falls on a weekend), and over 2003-01-01 .. 2041-12-31 its sessions are exactly
the NYSE (XNYS) sessions, including the ad hoc closures (2004-06-11, 2007-01-02,
2012-10-29/30, 2018-12-05, 2025-01-09). The rule refers to Cboe *options*
business days (the settlement value comes from SPX options), which follow the
NYSE holidays, so XCBF is the right set and nothing the rule needs is missing.
None of those ad hoc closures touches a monthly settlement or its third Friday
in 2004..2040. Cboe handles unscheduled closures case by case (the *weekly* VIX
contracts due on 2018-12-05 settled the day after, not before), so a future
national day of mourning can move a settlement date away from what this rule
computes; that cannot be known in advance and is not special-cased here.

No Django imports: this module is used by models, commands and benchmarks alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dspops.core import calendars

__all__ = [
    "CFE",
    "ContractDates",
    "ContractMonth",
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_CODES",
    "contract_dates",
    "front_contracts",
    "local_symbol",
    "month_code",
    "month_from_code",
    "parse_local_symbol",
    "roll_by",
    "roll_plan",
    "settlement_date",
]

MONTH_CODES = "FGHJKMNQUVXZ"

# The calendar window in dspops.core.calendars (2003 .. 2041) covers every date these
# contracts need: roll-by of 2004-01 and the third Friday of 2041-01 for 2040-12.
MIN_YEAR = 2004
MAX_YEAR = 2040

CFE = calendars.CFE  # the exchange the VX calendar counts sessions on

DEFAULT_ROLL_SESSIONS = 5


def month_code(month: int) -> str:
    """The futures month code for `month` (1 -> "F", 12 -> "Z").

    Raises ValueError if `month` is not an int in 1..12.
    """
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        raise ValueError(f"month must be an int from 1 to 12, got {month!r}")
    return MONTH_CODES[month - 1]


def month_from_code(code: str) -> int:
    """The month number (1..12) for a futures month code such as "G".

    Lower case is accepted. Raises ValueError for anything but one of
    F G H J K M N Q U V X Z.
    """
    if not isinstance(code, str) or len(code) != 1 or code.upper() not in MONTH_CODES:
        raise ValueError(
            f"{code!r} is not a futures month code; expected one letter of {MONTH_CODES}"
        )
    return MONTH_CODES.index(code.upper()) + 1


_LABEL_RE = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class ContractMonth:
    """A VX/VXM contract month, ordered chronologically.

    Raises TypeError if year or month is not an int, ValueError if the month is
    not 1..12 or the year is outside 2004..2040 (the range the calendar covers).
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        for name in ("year", "month"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"ContractMonth {name} must be an int, got {type(value).__name__} {value!r}"
                )
        if not 1 <= self.month <= 12:
            raise ValueError(f"ContractMonth month must be 1..12, got {self.month}")
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError(
                f"contract month {self.year:04d}-{self.month:02d} is outside the supported "
                f"range {MIN_YEAR}-01 .. {MAX_YEAR}-12"
            )

    @property
    def code(self) -> str:
        """Month code letter, e.g. "G" for February."""
        return MONTH_CODES[self.month - 1]

    @property
    def label(self) -> str:
        """ISO-style label, e.g. "2026-02"."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        """The first calendar day of the month."""
        return date(self.year, self.month, 1)

    def shift(self, n: int) -> ContractMonth:
        """The contract month `n` months later (n < 0: earlier).

        Raises ValueError if the result is outside 2004-01 .. 2040-12.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"shift needs an int number of months, got {n!r}")
        index = self.year * 12 + (self.month - 1) + n
        return ContractMonth(index // 12, index % 12 + 1)

    def local_symbol(self, root: str = "VXM") -> str:
        """IBKR local symbol: root + month code + last digit of the year ("VXMG6")."""
        return f"{root}{self.code}{self.year % 10}"

    @classmethod
    def from_label(cls, label: str) -> ContractMonth:
        """Parse "YYYY-MM". Raises ValueError for any other form or an unsupported month."""
        match = _LABEL_RE.fullmatch(label) if isinstance(label, str) else None
        if match is None:
            raise ValueError(f"{label!r} is not a contract month label; expected YYYY-MM, e.g. 2026-02")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def from_date(cls, d: date) -> ContractMonth:
        """The contract month containing `d`. Raises ValueError outside 2004..2040."""
        if not isinstance(d, date):
            raise TypeError(f"from_date needs a date, got {type(d).__name__} {d!r}")
        return cls(d.year, d.month)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class ContractDates:
    """Settlement and roll-by dates of one contract."""

    contract: ContractMonth
    settlement_date: date
    roll_by: date


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    # weekday(): Monday 0 .. Friday 4.
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def settlement_date(cm: ContractMonth) -> date:
    """Final settlement (and last trading) date of contract `cm`.

    Raises TypeError if `cm` is not a ContractMonth.
    """
    if not isinstance(cm, ContractMonth):
        raise TypeError(f"settlement_date needs a ContractMonth, got {type(cm).__name__} {cm!r}")
    # Not cm.shift(1): the month after 2040-12 is outside ContractMonth's range
    # but still inside the loaded calendar.
    next_year, next_month = (cm.year + 1, 1) if cm.month == 12 else (cm.year, cm.month + 1)
    friday = _third_friday(next_year, next_month)
    if not calendars.is_session(friday, exchange=CFE):
        friday = calendars.previous_session(friday, exchange=CFE)
    return calendars.session_on_or_before(friday - timedelta(days=30), exchange=CFE)


def _check_sessions_before(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        # 0 would mean rolling on settlement day, when the contract no longer trades.
        raise ValueError(f"sessions_before must be an int >= 1 (CFE sessions), got {n!r}")


def roll_by(cm: ContractMonth, *, sessions_before: int = DEFAULT_ROLL_SESSIONS) -> date:
    """The CFE session `sessions_before` sessions before settlement of `cm`.

    Raises ValueError if sessions_before is not an int >= 1.
    """
    _check_sessions_before(sessions_before)
    return calendars.session_offset(settlement_date(cm), -sessions_before, exchange=CFE)


def contract_dates(
    cm: ContractMonth, *, sessions_before: int = DEFAULT_ROLL_SESSIONS
) -> ContractDates:
    """Settlement and roll-by of `cm` together. Raises as roll_by does."""
    _check_sessions_before(sessions_before)
    settles = settlement_date(cm)
    return ContractDates(
        contract=cm,
        settlement_date=settles,
        roll_by=calendars.session_offset(settles, -sessions_before, exchange=CFE),
    )


def local_symbol(cm: ContractMonth, root: str = "VXM") -> str:
    """IBKR local symbol of `cm`, e.g. "VXMG6" (root "VX" gives "VXG6")."""
    return cm.local_symbol(root)


def parse_local_symbol(symbol: str, *, near: date, root: str = "VXM") -> ContractMonth:
    """The contract month named by an IBKR local symbol such as "VXMG6".

    The single year digit is ambiguous across decades, so it resolves to the
    candidate year (within ten years either side of `near`, inside 2004..2040)
    whose settlement date is closest to `near`. Case and surrounding spaces
    are ignored.

    Raises ValueError if the symbol is not root + month code + one digit, or if
    no candidate year lies in 2004..2040.
    """
    if not isinstance(symbol, str):
        raise ValueError(f"local symbol must be a string, got {type(symbol).__name__} {symbol!r}")
    if not isinstance(near, date):
        raise TypeError(f"near must be a date, got {type(near).__name__} {near!r}")
    if isinstance(near, datetime):
        near = near.date()
    root_u = root.upper()
    match = re.fullmatch(rf"{re.escape(root_u)}([{MONTH_CODES}])(\d)", symbol.strip().upper())
    if match is None:
        raise ValueError(
            f"{symbol!r} is not a {root_u} local symbol; expected {root_u} + month code "
            f"({MONTH_CODES}) + last digit of the year, e.g. {root_u}G6"
        )
    month = month_from_code(match.group(1))
    digit = int(match.group(2))
    candidates = [
        ContractMonth(year, month)
        for year in range(near.year - 10, near.year + 11)
        if year % 10 == digit and MIN_YEAR <= year <= MAX_YEAR
    ]
    if not candidates:
        raise ValueError(
            f"{symbol!r} near {near.isoformat()} names no contract in {MIN_YEAR}..{MAX_YEAR}"
        )
    return min(candidates, key=lambda cm: abs((settlement_date(cm) - near).days))


def front_contracts(
    session: date, *, roll_sessions: int = DEFAULT_ROLL_SESSIONS
) -> tuple[ContractMonth, ContractMonth, ContractMonth]:
    """(front, second, third) contract months held by the book as of `session`.

    The front is the earliest contract whose roll-by date is strictly after
    `session`: the book rolls *on* the roll-by date, so from that day on the
    front is already the next contract. `session` may be any date (a weekend
    gives the book as it stood after the preceding session).

    Raises TypeError for a datetime (use dspops.core.calendars.trading_date first),
    ValueError if the contracts needed fall outside 2004-01 .. 2040-12.
    """
    if isinstance(session, datetime) or not isinstance(session, date):
        raise TypeError(
            f"front_contracts needs a date, got {type(session).__name__} {session!r}; "
            "convert datetimes with dspops.core.calendars.trading_date()"
        )
    last = ContractMonth(MAX_YEAR, 12)
    if not MIN_YEAR <= session.year <= MAX_YEAR:
        raise ValueError(
            f"front contracts as of {session.isoformat()}: only dates in "
            f"{MIN_YEAR}..{MAX_YEAR} are supported"
        )
    # Settlement of month M always falls in month M, so every earlier contract
    # has rolled before the 1st of the month containing `session`; only this
    # month's and later contracts can be the front.
    front = ContractMonth.from_date(session)
    while front <= last.shift(-2) and roll_by(front, sessions_before=roll_sessions) <= session:
        front = front.shift(1)
    if front > last.shift(-2):
        raise ValueError(
            f"front contracts as of {session.isoformat()} reach past the last supported "
            f"contract month {last}"
        )
    return front, front.shift(1), front.shift(2)


def roll_plan(cm: ContractMonth) -> tuple[ContractMonth, ContractMonth, ContractMonth]:
    """(close, open_short, open_long) for rolling the expiring front `cm`.

    Close `cm`, open `cm.shift(1)` as the new short leg and `cm.shift(2)` as the
    new long leg. Raises ValueError if those months are past 2040-12.
    """
    return cm, cm.shift(1), cm.shift(2)
