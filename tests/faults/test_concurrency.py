"""Two processes confirm the same roll step at the same moment: exactly one wins.

A real shared database: the rows are committed (transaction=True) so that the two child
processes (tests/faults/race_step.py) see them, and both children open this run's test database,
SQLite file or PostgreSQL database alike (race_step.py says how it is named to them).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rolls.models import RollAttempt, RollState
from rolls.roll_service import plan_roll

from .conftest import child_env

RACE_STEP = Path(__file__).with_name("race_step.py")
LOST = ("lost: This roll was changed by someone else meanwhile: it is now Aborted. Reload the page and look again "
        "before acting.")


@pytest.mark.django_db(transaction=True)
def test_two_processes_aborting_the_same_roll_at_once_leave_exactly_one_transition(book, operator_user, tmp_path):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    env = child_env()
    children = {
        name: subprocess.Popen([sys.executable, str(RACE_STEP), str(attempt.pk), str(operator_user.pk), name,
                                str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    }
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in children):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children.values()), \
            {name: c.communicate() for name, c in children.items() if c.poll() is not None}
        time.sleep(0.01)
    (tmp_path / "go").touch()  # both have read the roll as Planned, version 0: now both confirm
    outputs = {name: c.communicate(timeout=60) for name, c in children.items()}

    results = {name: out.strip() for name, (out, _) in outputs.items()}
    assert sorted(results.values()) == [LOST, "won"], outputs
    winner = next(name for name, result in results.items() if result == "won")
    attempt = RollAttempt.objects.get(pk=attempt.pk)
    assert (attempt.state, attempt.version) == (RollState.ABORTED, 1)
    aborted = attempt.transitions.filter(to_state=RollState.ABORTED)
    assert [(t.from_state, t.why, t.by_id) for t in aborted] == [
        (RollState.PLANNED, f"operator {winner}", operator_user.pk)]
