"""One value per input in a digest: the vol indices, the sleeve sections and the data_stale rule read the same
value of VIX / VVIX / SPY, with its source and age."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from digests.services import generate_digest
from dspops.core import calendars, vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Alert, QuoteSnapshot
from sleeves.models import PriceBar, Sleeve, SpreadPosition
from sleeves.monitors import run_vrp_cs_monitor, run_vrp_erp_monitor

FRIDAY = date(2026, 11, 27)
FRIDAY_MORNING = datetime(2026, 11, 27, 10, 0, tzinfo=calendars.NEW_YORK)
FRIDAY_EVENING = datetime(2026, 11, 27, 16, 30, tzinfo=calendars.NEW_YORK)


def section(markdown: str, title: str) -> str:
    body = markdown.split(f"## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.fixture
def friday(booted, settings, tmp_path, time_machine):
    settings.DIGEST_DIR = tmp_path / "daily_digest"
    time_machine.move_to(FRIDAY_MORNING, tick=False)
    SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 12)),
        long_leg=vxm_instrument(vx.ContractMonth(2027, 1)), quantity=1, short_entry_price=Decimal("17.45"),
        long_entry_price=Decimal("18.10"), entry_date=date(2026, 11, 2), entry_spread=Decimal("0.65"),
        stop_loss_spread=Decimal("0.32"), take_profit_spread=Decimal("1.30"), settlement_date=date(2026, 12, 16),
        roll_by=date(2026, 12, 9))
    return time_machine


def test_the_vix_a_sleeve_used_is_the_digests_vix_and_no_data_stale_is_raised_for_it(friday):
    # Measured: the 2026-11-27 digest said "VIX `missing`, VVIX `missing`" and raised two data_stale warnings,
    # while its VRP-ERP section used VIX 16.12 and VRP-CS computed its gate from VIX and VVIX: the vol-indices
    # section read only stored closes and quote snapshots, the sleeves the values their monitor runs used.
    run_vrp_erp_monitor(vix=Decimal("16.12"), spy=Decimal("664.19"), shares=13, use_vol_target=False)
    run_vrp_cs_monitor(vix=Decimal("16.12"), vvix=Decimal("92.40"), vx1=Decimal("17.45"), vx2=Decimal("18.10"))
    assert not QuoteSnapshot.objects.exists() and not PriceBar.objects.exists()

    friday.move_to(FRIDAY_EVENING, tick=False)
    digest = generate_digest(trading_date=FRIDAY)

    indices = section(digest.markdown, "Vol Indices")
    assert "- VIX: `16.12` (as of 2026-11-27, manual, used by the VRP-" in indices
    assert "- VVIX: `92.40` (as of 2026-11-27, manual, used by the VRP-CS monitor run of 2026-11-27 10:00 ET)" in indices
    assert "`missing`" not in indices
    assert "- VIX: `16.12` | Regime:" in section(digest.markdown, "Sleeve VRP-ERP (VIX-gated SPY)")
    assert "digest's VIX" not in digest.markdown  # one value: nothing to reconcile
    assert not Alert.objects.filter(code="data_stale").exists()


def test_a_vix_no_section_had_is_still_missing_and_raises_data_stale(friday):
    run_vrp_erp_monitor(spy=Decimal("664.19"), shares=13, use_vol_target=False)  # no VIX anywhere

    friday.move_to(FRIDAY_EVENING, tick=False)
    digest = generate_digest(trading_date=FRIDAY)

    assert "- VIX: `missing`" in section(digest.markdown, "Vol Indices")
    assert "- VIX: `missing` | Regime:" in section(digest.markdown, "Sleeve VRP-ERP (VIX-gated SPY)")
    stale = Alert.objects.get(code="data_stale", subject="VIX")
    assert stale.message.startswith("VIX: no value stored on or before 2026-11-27")
    assert stale.about_id and stale.first_session == FRIDAY
    assert not Alert.objects.filter(code="data_stale", subject="SPY").exists()  # the run used SPY 664.19


def test_when_a_later_run_saw_another_vix_the_erp_section_says_which_it_used(friday):
    run_vrp_erp_monitor(vix=Decimal("16.12"), spy=Decimal("664.19"), shares=13, use_vol_target=False)
    friday.move_to(datetime(2026, 11, 27, 11, 0, tzinfo=calendars.NEW_YORK), tick=False)
    run_vrp_cs_monitor(vix=Decimal("17.05"), vvix=Decimal("92.40"), vx1=Decimal("17.45"), vx2=Decimal("18.10"))

    friday.move_to(FRIDAY_EVENING, tick=False)
    digest = generate_digest(trading_date=FRIDAY)

    assert "- VIX: `17.05` (as of 2026-11-27, manual, used by the VRP-CS monitor run" in digest.markdown
    erp = section(digest.markdown, "Sleeve VRP-ERP (VIX-gated SPY)")
    assert "its decision used VIX 16.12; the digest's VIX is 17.05 (as of 2026-11-27, manual)" in erp
