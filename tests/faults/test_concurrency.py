"""Two processes confirm the same roll step at the same moment: exactly one wins.

A real shared database: the rows are committed (transaction=True) so that the two child
processes (tests/faults/race_step.py) see them, and both children open this run's test database,
SQLite file or PostgreSQL database alike (race_step.py says how it is named to them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rolls.models import RollAttempt, RollState
from rolls.roll_service import plan_roll

from .conftest import race_two_children

RACE_STEP = Path(__file__).with_name("race_step.py")
LOST = ("lost: This roll was changed by someone else meanwhile: it is now Aborted. Reload the page and look again "
        "before acting.")


@pytest.mark.django_db(transaction=True)
def test_two_processes_aborting_the_same_roll_at_once_leave_exactly_one_transition(book, operator_user, tmp_path):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    # Both read the roll as Planned, version 0, then both confirm at once.
    outputs = race_two_children(lambda name: [sys.executable, str(RACE_STEP), str(attempt.pk), str(operator_user.pk),
                                              name, str(tmp_path)], tmp_path)

    results = {name: out.strip() for name, (out, _) in outputs.items()}
    assert sorted(results.values()) == [LOST, "won"], outputs
    winner = next(name for name, result in results.items() if result == "won")
    attempt = RollAttempt.objects.get(pk=attempt.pk)
    assert (attempt.state, attempt.version) == (RollState.ABORTED, 1)
    aborted = attempt.transitions.filter(to_state=RollState.ABORTED)
    assert [(t.from_state, t.why, t.by_id) for t in aborted] == [
        (RollState.PLANNED, f"operator {winner}", operator_user.pk)]
