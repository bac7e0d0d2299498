"""The check after a VRP-CS roll: is the book exactly the new spread? (DECISIONS.md §3; LEGACY.md §2.11)

Every difference from the target (old front 0, middle -q, new back +q, nothing else in VXM) is an
orphan leg, named with the order that closes it. The pre-roll positions check compares the book
with the spread before the roll through the same `position_differences`.

Given what the broker held before the roll, a failed verification tells its cases apart
(DECISIONS.md §3, escalation):

* NOT_AT_BROKER: the broker still holds exactly what it held before the roll. The recorded fills
  never reached it; trading the differences would trade the whole roll a second time, so no order
  is advised.
* ORPHAN_LEGS: every contract moved part of the way the roll planned (or not at all): some legs
  are at the broker and others are not. The orders that close the orphan legs are given.
* BREAK: a position nobody planned (a contract outside the roll, or a leg moved the wrong way or
  further than the roll). Shown as a break; no order is advised until it is explained.

Pure: no Django, no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dspops.core import formats

__all__ = [
    "BREAK",
    "COMPLETE",
    "NOT_AT_BROKER",
    "ORPHAN_LEGS",
    "UNREADABLE",
    "Orphan",
    "Unplanned",
    "Verification",
    "position_differences",
    "unreadable_positions",
    "verify_after_roll",
]


@dataclass(frozen=True)
class Orphan:
    """A VXM position that differs from the post-roll target.

    `quantity` is the number of contracts (> 0) that the order `action_to_close`
    (BUY/SELL) must trade in `local_symbol` to bring it to `expected`.
    """

    local_symbol: str
    quantity: Decimal
    action_to_close: str
    message: str
    held: Decimal
    expected: int


@dataclass(frozen=True)
class Unplanned:
    """A VXM position nobody planned: held, what the broker held before the roll, what the roll aimed at."""

    local_symbol: str
    held: Decimal
    before: Decimal
    expected: int
    message: str


# What a verification found (Verification.kind).
COMPLETE = "complete"
UNREADABLE = "unreadable"
NOT_AT_BROKER = "not_at_broker"
ORPHAN_LEGS = "orphan_legs"
BREAK = "break"


@dataclass(frozen=True)
class Verification:
    ok: bool
    orphans: tuple[Orphan, ...]
    message: str
    kind: str = ""
    unplanned: tuple[Unplanned, ...] = ()
    # ORPHAN_LEGS: legs whose recorded fills moved the book another way than the broker moved (fills typed in
    # that never happened, or real ones not recorded yet)
    unmatched: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """The stored form (RollAttempt.diagnosis): numbers as text."""
        return {
            "ok": self.ok, "kind": self.kind, "message": self.message,
            "orders": [o.message for o in self.orphans],
            "breaks": [u.message for u in self.unplanned],
            "unmatched_fills": list(self.unmatched),
        }


def position_differences(
    expected: dict[str, int], positions: dict[str, Decimal]
) -> list[tuple[str, Decimal, int]]:
    """(symbol, held, expected) for every symbol whose holding is not the expected one.

    Expected symbols first, in the given order, then any other non-zero holding.
    """
    out = []
    for symbol in dict.fromkeys([*expected, *positions]):
        held = positions.get(symbol, Decimal(0))
        want = expected.get(symbol, 0)
        if held != want:
            out.append((symbol, held, want))
    return out


def unreadable_positions(positions: dict[str, Decimal]) -> list[str]:
    """The symbols whose holding is not a number (a bool, a string, NaN, infinity)."""
    return [
        symbol for symbol, held in positions.items()
        if isinstance(held, bool) or not isinstance(held, (Decimal, int))
        or (isinstance(held, Decimal) and not held.is_finite())
    ]


def _orphan(symbol: str, held: Decimal, want: int, *, old_front: str, middle: str,
            new_back: str) -> Orphan:
    change = want - held
    action = "BUY" if change > 0 else "SELL"
    size = abs(Decimal(change))
    order = f"{action} {formats.quantity(size)} {symbol}"
    if symbol == old_front:
        purpose = "to close the old front"
    elif symbol in (middle, new_back):
        # Between flat and the target (same side): the new spread is only part-filled.
        partial = held == 0 or (held * want > 0 and abs(held) < abs(want))
        purpose = (
            "to complete the new spread" if partial
            else f"to bring it to {formats.quantity(want, with_sign=True)} for the new spread"
        )
    else:
        purpose = "to close it (not part of the spread)"
    message = (
        f"{symbol}: holding {formats.quantity(held, with_sign=True)}, "
        f"expected {formats.quantity(want, with_sign=True)}: {order} {purpose}"
    )
    return Orphan(symbol, size, action, message, Decimal(held), want)


def _describe(positions: dict[str, Decimal]) -> str:
    held = [f"{symbol} {formats.quantity(q, with_sign=True)}" for symbol, q in positions.items() if q != 0]
    return ", ".join(held) or "nothing in VXM"


def _unplanned(symbol: str, held: Decimal, before: Decimal, want: int, legs: tuple[str, str, str]) -> Unplanned | None:
    """The position in ``symbol`` if no part of the roll explains it, else None.

    The roll moves each leg from ``before`` towards ``want``; a holding on that path (ends
    included) is the roll done in part. Anything else, or any holding outside the three legs,
    was planned by nobody.
    """
    if symbol in legs:
        low, high = sorted((before, Decimal(want)))
        if low <= held <= high:
            return None
        why = "the roll never moves it there"
    elif held == 0:
        return None
    else:
        why = "it is not part of the roll"
    message = (
        f"{symbol}: the broker holds {formats.quantity(held, with_sign=True)}; before the roll "
        f"{formats.quantity(before, with_sign=True)}, the roll aims at {formats.quantity(want, with_sign=True)}: "
        f"{why}"
    )
    return Unplanned(symbol, Decimal(held), Decimal(before), want, message)


def _unmatched_fills(legs: tuple[str, ...], positions: dict[str, Decimal], before: dict[str, Decimal],
                     recorded: dict[str, Decimal]) -> tuple[str, ...]:
    """Each leg whose recorded fills moved the book by another amount than the broker moved it."""
    out = []
    for symbol in legs:
        moved = positions.get(symbol, Decimal(0)) - before.get(symbol, Decimal(0))
        booked = recorded.get(symbol, Decimal(0))
        if booked != moved:
            out.append(f"{symbol}: the roll's recorded fills move it {formats.quantity(booked, with_sign=True)}, "
                       f"the broker moved it {formats.quantity(moved, with_sign=True)}")
    return tuple(out)


def verify_after_roll(
    *,
    quantity: int,
    old_front: str,
    middle: str,
    new_back: str,
    positions: dict[str, Decimal] | None,
    before: dict[str, Decimal] | None = None,
    recorded: dict[str, Decimal] | None = None,
) -> Verification:
    """Check the book after the roll: old front 0, middle -q, new back +q, nothing else in VXM.

    Every difference is an Orphan naming the leg and the order that brings it to
    target. Positions that could not be read (None, or a value that is not a
    number) give ok=False with no orphans: nothing can be said about the legs.
    With ``before`` (the VXM positions the broker held before the roll), a failure
    says which case it is (``kind``): NOT_AT_BROKER and BREAK advise no order. With
    ``recorded`` too (the signed quantities the roll's counted leg fills trade), ORPHAN_LEGS
    names the legs whose recorded fills the broker does not show: they must be reversed (or
    the real ones pulled) before the closing orders are traded, or the book counts them twice.
    Raises ValueError for a quantity that is not an int >= 1 or for leg symbols
    that are not three different contracts.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be an int >= 1, got {quantity!r}")
    if len({old_front, middle, new_back}) != 3:
        legs = (old_front, middle, new_back)
        raise ValueError(f"the three legs must be different contracts, got {legs!r}")
    if positions is None:
        return Verification(
            False, (),
            "Positions could not be read, so the roll is not verified. Read them again "
            "(or check them in TWS) before doing anything else.", UNREADABLE,
        )
    if bad := unreadable_positions(positions):
        return Verification(
            False, (),
            f"Position for {', '.join(bad)} could not be read, so the roll is not verified. "
            "Read the positions again (or check them in TWS).", UNREADABLE,
        )
    if before is not None and (bad := unreadable_positions(before)):
        raise ValueError(f"the positions before the roll are not numbers: {', '.join(bad)}")
    q = quantity
    expected = {old_front: 0, middle: -q, new_back: q}
    orphans = tuple(
        _orphan(symbol, held, want, old_front=old_front, middle=middle, new_back=new_back)
        for symbol, held, want in position_differences(expected, positions)
    )
    if not orphans:
        return Verification(
            True, (),
            f"Positions match the target: {old_front} 0, {middle} {-q}, {new_back} +{q}, "
            "nothing else in VXM.", COMPLETE,
        )
    count = f"{len(orphans)} orphan leg" + ("s" if len(orphans) > 1 else "")
    if before is not None:
        if not position_differences({k: v for k, v in before.items() if v != 0}, positions):
            return Verification(
                False, (),
                f"The broker holds exactly what it held before the roll ({_describe(positions)}): the recorded fills "
                "are not at the broker: check TWS executions, pull fills, or reverse the recorded fills. Do not "
                "trade the roll again: that would double it.", NOT_AT_BROKER,
            )
        legs = (old_front, middle, new_back)
        unplanned = tuple(
            u for symbol in dict.fromkeys([*expected, *positions, *before])
            if (u := _unplanned(symbol, positions.get(symbol, Decimal(0)), before.get(symbol, Decimal(0)),
                                expected.get(symbol, 0), legs)) is not None
        )
        if unplanned:
            return Verification(
                False, (),
                f"Break: the broker holds positions nobody planned ({_describe(positions)}): "
                + "; ".join(u.message for u in unplanned)
                + ". Compare with TWS and reconcile before trading anything; dspops advises no order until the "
                "break is explained.", BREAK, unplanned,
            )
        unmatched = _unmatched_fills(legs, positions, before, recorded) if recorded is not None else ()
        book = ("" if not unmatched else
                " The book does not match the broker: " + "; ".join(unmatched) + ". Reverse the recorded fills the "
                "broker does not show (Reverse beside each leg fill), or pull the real ones, before trading these "
                "orders: otherwise the book counts those legs twice.")
        return Verification(
            False, orphans,
            f"Roll not complete, some legs are at the broker and others are not, {count}: "
            + "; ".join(o.message for o in orphans) + "." + book, ORPHAN_LEGS, unmatched=unmatched,
        )
    return Verification(
        False, orphans,
        f"Roll not complete, {count}: " + "; ".join(o.message for o in orphans) + ".", ORPHAN_LEGS,
    )
