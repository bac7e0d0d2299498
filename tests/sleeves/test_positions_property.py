"""Property: a reversal and the fill it reverses leave no trace (DECISIONS.md section 9).

Positions from random fills with random reversals equal the positions from the same fills with the reversed
pairs removed: quantity, average cost, realised P&L, commissions and the count of fills, per sleeve and
instrument, now and as of any moment. Each example writes real rows in a savepoint that is rolled back.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dspops.core import clock
from dspops.core.models import Instrument
from sleeves.models import Fill, FillSource, Sleeve
from sleeves.selectors import positions_by_sleeve
from sleeves.services import reverse_fill

SLEEVES = ("VRP_ERP", "DM")
SYMBOLS = ("SPY", "EEM")

fill_specs = st.tuples(
    st.sampled_from(SLEEVES), st.sampled_from(SYMBOLS), st.sampled_from(("BUY", "SELL")),
    st.integers(min_value=1, max_value=20).map(Decimal),
    st.decimals(min_value=Decimal("1.00"), max_value=Decimal("999.99"), places=2),
    st.one_of(st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=2)),
    st.booleans(),  # reversed?
)


def figures(positions):
    return sorted(
        (p.sleeve_code, p.instrument.local_symbol, p.quantity, p.average_cost, p.realized_pnl_points,
         p.commissions_usd, p.commissions_missing, p.fill_count)
        for p in positions
    )


def book(specs, *, with_reversals: bool, start, as_of):
    """Write the fills (and, with_reversals, the reversals; else leave the reversed fills out), read the
    positions now and as of ``as_of``, and roll everything back."""
    sleeves = {code: Sleeve.objects.get(code=code) for code in SLEEVES}
    instruments = {s: Instrument.objects.get(local_symbol=s, sec_type="STK") for s in SYMBOLS}
    with transaction.atomic():
        for i, (sleeve, symbol, side, quantity, price, commission, reversed_) in enumerate(specs):
            if reversed_ and not with_reversals:
                continue
            fill = Fill.objects.create(
                sleeve=sleeves[sleeve], instrument=instruments[symbol], side=side, quantity=quantity, price=price,
                commission=commission, executed_at=start + timedelta(minutes=i), source=FillSource.MANUAL,
            )
            if reversed_:
                reverse_fill(fill=fill, user=None, reason="property test")
        answer = (figures(positions_by_sleeve(include_flat=True)),
                  figures(positions_by_sleeve(include_flat=True, as_of=as_of)))
        transaction.set_rollback(True)
    return answer


def test_reversed_pairs_leave_the_positions_as_if_they_never_existed(booted):
    start = clock.now() - timedelta(days=30)

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(specs=st.lists(fill_specs, min_size=1, max_size=12), cut=st.integers(min_value=0, max_value=12))
    def same_positions(specs, cut):
        as_of = start + timedelta(minutes=cut, seconds=30)
        with_reversals = book(specs, with_reversals=True, start=start, as_of=as_of)
        without_pairs = book(specs, with_reversals=False, start=start, as_of=as_of)
        assert with_reversals == without_pairs
        assert Fill.objects.count() == 0  # each example's rows were rolled back

    same_positions()
