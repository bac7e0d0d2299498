"""The roll in progress, as the naked-leg check in sleeves sees it (sleeves.naked_legs.ROLL_IN_PROGRESS).

Between a GO and its verification the book passes through holdings that are not the position
config, which takes the new legs only when the roll is verified. The naked-leg check must not
advise trading those contracts back: that would undo the roll. Rehearsals trade nothing.
"""

from __future__ import annotations

from rolls.models import RollAttempt
from rolls.roll_states import RollState
from sleeves.naked_legs import RollInProgress

# From a GO (the operator may trade as soon as it is given) until verification.
TRADING_STATES = (RollState.CHECKED_GO, RollState.EXECUTING, RollState.LEGS_FILLED, RollState.ESCALATED)


def roll_in_progress() -> RollInProgress | None:
    attempt = (RollAttempt.objects.filter(rehearsal=False, state__in=[s.value for s in TRADING_STATES])
               .select_related("old_front", "middle", "new_back").order_by("-id").first())
    if attempt is None:
        return None
    return RollInProgress(
        label=f"Roll #{attempt.pk} ({attempt.get_state_display()})",
        contracts=frozenset(leg.local_symbol for leg in (attempt.old_front, attempt.middle, attempt.new_back)),
    )
