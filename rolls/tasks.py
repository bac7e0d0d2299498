"""The roll's task: the pre-roll check, run by the worker when a roll-by is near.

The task registry (dspops/tasks.py) schedules it and skips a day CFE does not trade.
"""

from __future__ import annotations

from dspops.core import calendars, clock
from dspops.core.errors import OperatorError
from rolls.roll_service import active_position, raise_unfilled_leg_alerts, run_checks
from sleeves import parameters
from sleeves.selectors import sleeve_settings


def roll_check_task(*, by_person: bool = False) -> str:
    """Check the roll when the active position's roll-by is within BOOK roll_alert_sessions CFE sessions.

    First, a roll left executing with a leg unfilled past the fill-warning time gets its warning (the
    checklist page only shows it: a GET never writes).
    """
    late = "".join(f"{warning} " for warning in raise_unfilled_leg_alerts())
    return late + _check_if_due()


def _check_if_due() -> str:
    position = active_position()
    if position is None:
        return "no active VRP-CS position config: nothing to roll"
    horizon = sleeve_settings(parameters.BOOK)["roll_alert_sessions"]
    today = clock.trading_date()
    if not calendars.in_window(position.roll_by):
        return (f"roll check not run: the position config's roll-by {position.roll_by} is outside the exchange "
                f"calendar ({calendars.CALENDAR_START} to {calendars.CALENDAR_END}); correct the position config")
    sessions = calendars.sessions_until(today, position.roll_by, exchange=calendars.CFE)
    if sessions > horizon:
        return (f"no roll due within {horizon} sessions: roll-by {position.roll_by} is {sessions} CFE sessions "
                f"after {today}")
    try:
        check = run_checks(attempt=None, live=True, role="worker")
    except OperatorError as exc:
        return f"roll check not run: {exc}"
    failing = [r.label for r in check.results.all() if not r.passed]
    due = f"roll-by {position.roll_by} ({sessions} CFE sessions)"
    if not check.data_complete:
        problems = "; ".join(check.inputs.get("problems", [])) or "an input could not be read"
        problems = problems if problems.endswith((".", "?", "!")) else f"{problems}."
        return f"DATA UNAVAILABLE for the roll check, {due}: {problems} Failing: " + ", ".join(failing)
    if check.verdict == "GO":
        return f"Roll check GO for {due}" + (" (simulated broker)" if check.simulated else "")
    return f"Roll check DO NOT ROLL for {due}: failing " + ", ".join(failing)
