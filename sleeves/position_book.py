"""The average-cost book of one position (a sleeve's holding of one instrument): pure arithmetic, no database.

The positions table (sleeves.models.SleevePosition) keeps one book per sleeve and instrument, moved on by each fill
as it is recorded; ``rebuild_positions`` replays the fills through the same book to check or repair it. Both must
reach the same figures digit for digit, so the book rounds at each step to what the table stores (AVERAGE_PLACES,
REALISED_PLACES) and carries nothing else: a book rebuilt from a stored row goes on exactly as the replay would.

Every stored figure has at most 15 digits (FIGURE_DIGITS), all SQLite keeps of a decimal column; a fill that would
take a figure past its limit is refused (out_of_range), never stored rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

AVERAGE_PLACES = 8
REALISED_PLACES = 6
_AVERAGE_STEP = Decimal(1).scaleb(-AVERAGE_PLACES)
_REALISED_STEP = Decimal(1).scaleb(-REALISED_PLACES)

# (max_digits, decimal_places) of each stored figure, and what the operator calls it.
FIGURE_DIGITS = {
    "held": ((15, 4), "quantity"),
    "average": ((15, AVERAGE_PLACES), "average cost (points)"),
    "realised": ((15, REALISED_PLACES), "realised P&L (points)"),
    "commissions": ((15, 2), "commissions (USD)"),
}


@dataclass
class PositionBook:
    """One running book by the average-cost method.

    Adding to a position moves the average; reducing it realises P&L at the average; crossing through zero starts
    a new average at the crossing fill's price. Commissions are summed where known and counted where missing.
    """

    held: Decimal = Decimal(0)
    average: Decimal = Decimal(0)  # per unit, in points; 0 when flat
    realised: Decimal = Decimal(0)  # in points x quantity, before the multiplier
    count: int = 0
    commissions: Decimal = Decimal(0)
    commissions_missing: int = 0

    def add(self, signed: Decimal, price: Decimal, commission: Decimal | None) -> None:
        held = self.held
        new_held = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            self.average = ((self.average * abs(held) + price * abs(signed)) / abs(new_held)).quantize(_AVERAGE_STEP)
        else:
            closing = min(abs(signed), abs(held))
            direction = 1 if held > 0 else -1
            self.realised += ((price - self.average) * closing * direction).quantize(_REALISED_STEP)
            if new_held == 0:
                self.average = Decimal(0)
            elif (new_held > 0) != (held > 0):
                self.average = price
        self.held = new_held
        self.count += 1
        if commission is None:
            self.commissions_missing += 1
        else:
            self.commissions += commission

    def out_of_range(self) -> list[str]:
        """The figures too large for the table, said as "realised P&L (points) 1234567890.000000 (the limit is
        ±999999999.999999)"; empty when the book fits."""
        problems = []
        for name, ((digits, places), said) in FIGURE_DIGITS.items():
            value = getattr(self, name)
            limit = Decimal(10) ** (digits - places) - Decimal(1).scaleb(-places)
            if abs(value) > limit:
                problems.append(f"{said} {value} (the limit is ±{limit})")
        return problems
