"""The roll's states, what each means to the operator, and the only moves allowed between them.

The one place the states are declared: the model's choices (``ROLL_STATE_CHOICES``), the open
states of the one-open-roll constraint (``OPEN_ROLL_STATES``), the service's moves, the pages and
the runbook all come from here. Pure code: no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dspops.core.errors import OperatorError


class RollState(StrEnum):
    """The value stored in RollAttempt.state (and RollTransition.from_state / to_state)."""

    PLANNED = "planned"
    CHECKED_GO = "checked_go"
    CHECKED_NO_GO = "checked_no_go"
    EXECUTING = "executing"
    LEGS_FILLED = "legs_filled"
    VERIFIED = "verified"
    CLOSED = "closed"
    ABORTED = "aborted"
    ESCALATED = "escalated"


# Short names for the tables below.
PLANNED = RollState.PLANNED
CHECKED_GO = RollState.CHECKED_GO
CHECKED_NO_GO = RollState.CHECKED_NO_GO
EXECUTING = RollState.EXECUTING
LEGS_FILLED = RollState.LEGS_FILLED
VERIFIED = RollState.VERIFIED
CLOSED = RollState.CLOSED
ABORTED = RollState.ABORTED
ESCALATED = RollState.ESCALATED


@dataclass(frozen=True)
class StateInfo:
    name: RollState
    title: str
    explanation: str
    next_step: str


# The state table, in the order the model lists its choices (the order of the migrations).
STATES: dict[RollState, StateInfo] = {
    PLANNED: StateInfo(PLANNED, "Planned",
                       "The roll is set up from the current position config: which contracts close and open, and how "
                       "many. Nothing has been checked or traded yet.",
                       "Run the pre-roll checks (about 09:45 New York time, once CFE is open)."),
    CHECKED_GO: StateInfo(CHECKED_GO, "Checked: GO",
                          "Every pre-roll check passed on the quotes and positions shown. The tickets below are what "
                          "to enter in TWS.",
                          "Confirm that you are placing the two combos in TWS (about 10:00). Re-run the checks if "
                          "more than a minute has passed: quotes older than the limit fail."),
    CHECKED_NO_GO: StateInfo(CHECKED_NO_GO, "Checked: DO NOT ROLL",
                             "At least one pre-roll check failed or could not be evaluated. Do not trade.",
                             "Fix what the failing rows say (or wait, e.g. for markets to tighten) and re-run the "
                             "checks, or abort the roll."),
    EXECUTING: StateInfo(EXECUTING, "Executing",
                         "You are trading the two combos in TWS: close the old spread, then open the new one. Record "
                         "each leg's fill here or pull them from IBKR.",
                         "Record the fills of all four legs. A leg still unfilled after 15 minutes raises a warning: "
                         "cancel and re-evaluate."),
    LEGS_FILLED: StateInfo(LEGS_FILLED, "Legs filled",
                           "Every leg of both combos has a recorded fill for the full quantity.",
                           "Verify the positions at the broker (about 10:15): old front 0, new front -q, new back +q, "
                           "nothing else in VXM."),
    VERIFIED: StateInfo(VERIFIED, "Verified",
                        "The positions are exactly the new spread. For a real roll the position config now holds "
                        "the new legs, entry prices from the fills, and stop and take-profit levels, and the old "
                        "config is in its history; a rehearsal leaves the config unchanged.",
                        "Close the roll. The next monitor run and digest use the new position."),
    CLOSED: StateInfo(CLOSED, "Closed", "The roll is finished.", "Nothing."),
    ABORTED: StateInfo(ABORTED, "Aborted", "The roll was abandoned; nothing it recorded changes the position config.",
                       "Nothing, unless orders were placed: then reconcile with the broker."),
    ESCALATED: StateInfo(ESCALATED, "Escalated",
                         "The positions after the roll are not the new spread. The box above says which case it is: "
                         "the recorded fills are not at the broker, some legs are at the broker and others are not "
                         "(orphan legs, with the orders that close them), or positions nobody planned (a break).",
                         "Do what the box says: orphan legs: close the orphan leg now with the orders it gives; "
                         "fills not at the broker: never trade the roll again, find the fills or reverse them. Then "
                         "verify again, or abort the roll (reversing the fills it recorded if they never happened)."),
}

# from-state -> the states it may move to. Nothing else is allowed.
TRANSITIONS: dict[RollState, tuple[RollState, ...]] = {
    PLANNED: (CHECKED_GO, CHECKED_NO_GO, ABORTED),
    CHECKED_GO: (CHECKED_GO, CHECKED_NO_GO, EXECUTING, ABORTED),
    CHECKED_NO_GO: (CHECKED_GO, CHECKED_NO_GO, ABORTED),
    EXECUTING: (LEGS_FILLED, ESCALATED, ABORTED),
    # Back to Executing: a recorded leg fill was reversed (typed wrong) and is recorded again.
    LEGS_FILLED: (VERIFIED, ESCALATED, EXECUTING, ABORTED),
    ESCALATED: (VERIFIED, ESCALATED, EXECUTING, ABORTED),
    VERIFIED: (CLOSED,),
    CLOSED: (),
    ABORTED: (),
}


# A state that can move nowhere is finished; every other state is open, and a sleeve holds at most
# one open roll (and one open rehearsal).
FINISHED_ROLL_STATES: tuple[str, ...] = tuple(s.value for s in STATES if not TRANSITIONS[s])
OPEN_ROLL_STATES: list[str] = [s.value for s in STATES if TRANSITIONS[s]]

# The model field's choices: (stored value, the title the operator reads).
ROLL_STATE_CHOICES: list[tuple[str, str]] = [(s.value, info.title) for s, info in STATES.items()]


class TransitionNotAllowed(OperatorError):
    """A move the table does not allow. The message names both states and what is allowed."""


def check_transition(from_state: str, to_state: str) -> None:
    allowed = TRANSITIONS.get(from_state, ())
    if to_state not in allowed:
        options = ", ".join(STATES[s].title for s in allowed) or "nothing (it is finished)"
        raise TransitionNotAllowed(
            f"A roll that is {STATES[from_state].title} cannot become {STATES[to_state].title}; "
            f"from here it can become: {options}."
        )
