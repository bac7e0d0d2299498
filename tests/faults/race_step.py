"""One operator confirming a roll step, in a process of its own. test_concurrency.py starts two at once.

    python tests/faults/race_step.py ATTEMPT_ID USER_ID NAME BARRIER_DIR

Each process reads the roll (the same state and version as the other), says it is ready by
creating BARRIER_DIR/ready-NAME, waits for BARRIER_DIR/go, then aborts the roll. It prints "won",
or "lost: " and the ConcurrentChange message.

The database is the test database of the pytest process that started it, whose name only that
process knows (test_<name>_<pid>): the parent passes DATABASE_URL naming it (PostgreSQL, or a
sqlite:/// URL, which carries the same SQLite options as the default file).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for dspops.settings
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dspops.settings")


import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from rolls.models import RollAttempt  # noqa: E402
from rolls.roll_service import ConcurrentChange, abort  # noqa: E402


def main(attempt_id: str, user_id: str, name: str, barrier_dir: str) -> int:
    attempt = RollAttempt.objects.get(pk=int(attempt_id))
    user = get_user_model().objects.get(pk=int(user_id))
    barrier = Path(barrier_dir)
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            print("no go within 60 s")
            return 2
        time.sleep(0.002)
    try:
        abort(attempt=attempt, user=user, why=f"operator {name}")
    except ConcurrentChange as exc:
        print(f"lost: {exc}")
    else:
        print("won")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
