"""The broker dataclasses and the quote verdict (pure, no network)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspops.core.broker.gateway import evaluate_quote
from dspops.core.broker.types import ContractSpec, QualifiedContract, Quote

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
VXM = QualifiedContract(700202612, "VXM", "FUT", "CFE", "USD", "VXMZ6", Decimal(100))
VIX = QualifiedContract(235531788, "VIX", "IND", "CBOE", "USD", "VIX", Decimal(1))


def quote(contract=VXM, **kw):
    values = dict(bid=17.45, ask=17.50, last=17.48, close=17.40, received_at=NOW, now=NOW)
    values.update(kw)
    return evaluate_quote(contract, **values)


def test_a_good_two_sided_quote():
    q = quote(bid_size=25, ask_size=31)
    assert q.valid and q.invalid_reason == ""
    assert (q.bid, q.ask, q.mid, q.width) == (Decimal("17.45"), Decimal("17.5"), Decimal("17.475"), Decimal("0.05"))
    assert q.bid_size == Decimal(25) and q.source == "live" and q.as_of == NOW


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"bid": math.nan}, "no quote (NaN)"),
        ({"ask": None}, "no quote (NaN)"),
        ({"bid": -1.0}, "no price (-1)"),
        ({"ask": -1}, "no price (-1)"),
        ({"bid": 0.0}, "no price (0)"),
        ({"bid": 17.6}, "crossed market (bid > ask)"),
        ({"market_data_type": 3}, "delayed data (type 3)"),
        ({"market_data_type": 4}, "delayed data (type 4)"),
        ({"market_data_type": 2}, "frozen data (type 2)"),
        ({"warning_codes": [10167]}, "delayed data (warning 10167)"),
        ({"error_code": 354}, "no market data subscription (error 354)"),
        ({"error_code": 10089}, "market data needs an additional API subscription (error 10089)"),
        ({"error_code": 10167}, "delayed data only (warning 10167)"),
        ({"received_at": NOW - timedelta(seconds=90)}, "stale (age 90s > limit 60s)"),
        ({"completed": False, "timeout": 2.0, "bid": None, "ask": None, "last": None, "close": None},
         "no data within 2s"),
        ({"completed": False, "timeout": 2.0}, "snapshot not complete within 2s"),
    ],
)
def test_reasons(kw, reason):
    q = quote(**kw)
    assert not q.valid and q.invalid_reason == reason
    assert q.mid is None and q.width is None and q.price is None


def test_minus_one_and_nan_become_none_never_numbers():
    q = quote(bid=-1.0, ask=math.nan, last=math.inf, close=1.7976931348623157e308)
    assert (q.bid, q.ask, q.last, q.close) == (None, None, None, None)


def test_index_is_priced_by_last_and_dated_by_its_timestamp():
    q = quote(VIX, bid=-1.0, ask=-1.0, last=16.12)
    assert q.valid and q.price == Decimal("16.12") and q.bid is None and q.mid is None
    old = quote(VIX, bid=None, ask=None, last=16.12, last_timestamp=NOW - timedelta(seconds=300))
    assert old.invalid_reason == "stale (age 300s > limit 60s)"
    assert old.as_of == NOW - timedelta(seconds=300)
    assert quote(VIX, last=None).invalid_reason == "no quote (NaN)"


def test_two_sided_quote_is_dated_by_arrival_not_by_its_last_trade():
    q = quote(last_timestamp=NOW - timedelta(minutes=10))
    assert q.valid and q.as_of == NOW


def test_delayed_allowed():
    q = quote(market_data_type=3, allow_delayed=True, warning_codes=[10167])
    assert q.valid and q.source == "delayed"


PRICES = st.one_of(
    st.none(),
    st.sampled_from([-1.0, 0.0, math.nan, math.inf, -math.inf]),
    st.floats(min_value=0.01, max_value=1000),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=300, deadline=None)
@given(
    bid=PRICES,
    ask=PRICES,
    md_type=st.sampled_from([1, 1, 2, 3, 4]),
    age=st.one_of(st.floats(min_value=0, max_value=60), st.floats(min_value=0, max_value=600)),
)
def test_a_valid_quote_always_has_a_sane_two_sided_market(bid, ask, md_type, age):
    q = quote(bid=bid, ask=ask, market_data_type=md_type, received_at=NOW - timedelta(seconds=age))
    if q.valid:
        assert q.bid is not None and q.ask is not None
        assert 0 < q.bid <= q.ask
        assert q.market_data_type == 1 and age <= 60
        assert q.mid is not None and q.width is not None and q.width >= 0
    else:
        assert q.invalid_reason
        assert q.mid is None and q.width is None and q.price is None
    for value in (q.bid, q.ask):
        assert value is None or (value.is_finite() and value != -1)


def test_quote_invariants_are_enforced():
    base = dict(con_id=1, symbol="X", local_symbol="X", bid=None, ask=None, last=None, close=None,
                market_data_type=1, as_of=NOW, source="live", simulated=False)
    with pytest.raises(ValueError, match="must say why"):
        Quote(**base, valid=False)
    with pytest.raises(ValueError, match="no invalid_reason"):
        Quote(**base, valid=True, invalid_reason="x")
    with pytest.raises(ValueError, match="aware"):
        Quote(**{**base, "as_of": datetime(2026, 1, 1)}, valid=False, invalid_reason="x")
    with pytest.raises(ValueError, match="finite Decimal"):
        Quote(**{**base, "bid": Decimal("NaN")}, valid=False, invalid_reason="x")


def test_contract_spec_validation():
    assert ContractSpec.future("VXM", "202612").description == "future VXM 202612 on CFE"
    with pytest.raises(ValueError, match="contract_month"):
        ContractSpec.future("VXM")
    with pytest.raises(ValueError, match="YYYYMM"):
        ContractSpec.future("VXM", "2026-12")
    with pytest.raises(ValueError, match="kind"):
        ContractSpec("option", "SPY")
