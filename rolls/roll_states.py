"""The roll's states, what each means to the operator, and the only moves allowed between them.

Pure code: the service enforces it, the pages show it, the runbook prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

PLANNED = "planned"
CHECKED_GO = "checked_go"
CHECKED_NO_GO = "checked_no_go"
EXECUTING = "executing"
LEGS_FILLED = "legs_filled"
VERIFIED = "verified"
CLOSED = "closed"
ABORTED = "aborted"
ESCALATED = "escalated"


@dataclass(frozen=True)
class StateInfo:
    name: str
    title: str
    explanation: str
    next_step: str


STATES: dict[str, StateInfo] = {
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
    ESCALATED: StateInfo(ESCALATED, "Escalated (orphan leg)",
                         "The positions after the roll are not the new spread: at least one leg is open on its own. A "
                         "critical alert names the exact leg and the order that closes it.",
                         "Close the orphan leg now (the alert says which order), then verify again; or abort after "
                         "flattening."),
}

# from-state -> the states it may move to. Nothing else is allowed.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PLANNED: (CHECKED_GO, CHECKED_NO_GO, ABORTED),
    CHECKED_GO: (CHECKED_GO, CHECKED_NO_GO, EXECUTING, ABORTED),
    CHECKED_NO_GO: (CHECKED_GO, CHECKED_NO_GO, ABORTED),
    EXECUTING: (LEGS_FILLED, ESCALATED, ABORTED),
    LEGS_FILLED: (VERIFIED, ESCALATED),
    ESCALATED: (VERIFIED, ESCALATED, ABORTED),
    VERIFIED: (CLOSED,),
    CLOSED: (),
    ABORTED: (),
}


class TransitionNotAllowed(Exception):
    """A move the table does not allow. The message names both states and what is allowed."""


def check_transition(from_state: str, to_state: str) -> None:
    allowed = TRANSITIONS.get(from_state, ())
    if to_state not in allowed:
        options = ", ".join(STATES[s].title for s in allowed) or "nothing (it is finished)"
        raise TransitionNotAllowed(
            f"A roll that is {STATES[from_state].title} cannot become {STATES[to_state].title}; "
            f"from here it can become: {options}."
        )
