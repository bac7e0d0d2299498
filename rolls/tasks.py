"""The roll's task: the pre-roll check, run by the worker when a roll-by is near.

The task registry (dspops/tasks.py) schedules it and skips a day CFE does not trade.
"""

from __future__ import annotations

from rolls.roll_service import scheduled_roll_check


def roll_check_task(*, by_person: bool = False) -> str:
    """The scheduled pre-roll check (and the unfilled-leg warning of a roll left executing)."""
    return scheduled_roll_check(role="worker")
