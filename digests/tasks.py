"""The digests' task: the weekly review. It reads stored rows only and calls one service.

The daily digest's task is a live job that crosses apps (one gateway session: snapshot, monitors,
digest), so it lives in the site (dspops/jobs.py). The task registry (dspops/tasks.py) schedules
both and skips a day the NYSE is closed.
"""

from __future__ import annotations

from dspops.core import clock
from digests.services import generate_weekly_review


def weekly_review_task(*, by_person: bool = False) -> str:
    """Friday 15:00 New York: the week's review, stored as a weekly_review run."""
    week_ending = clock.trading_date()
    generate_weekly_review(week_ending=week_ending, triggered_by="dashboard" if by_person else "task")
    return f"weekly review for the week ending {week_ending} stored"
